package controller

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/seed-6a310834/ceph-csi/shared/credentials"
)

// startSweepTimeout bounds the start-up sweep of one cluster.
const startSweepTimeout = time.Minute

// SweepAtStart has the background purger purge the trashed images of ours
// in every pool of every configured cluster that the driver's own
// credentials (Config.DefaultSecrets) reach: images a previous process
// trashed but whose purge was still queued in memory when it stopped.
// Without it they would wait for the next delete in their pool. Pools the
// credentials cannot read, and clusters that cannot be reached, are skipped
// (logged). It returns the number of pools whose sweep it queued; it does
// nothing without a purger or default credentials.
func (s *Server) SweepAtStart(ctx context.Context) int {
	if s.purger == nil || s.cfg.DefaultSecrets == nil {
		return 0
	}
	log := s.cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	creds, err := s.credentials(nil)
	if err != nil {
		log.Warn("no start-up trash sweep: no driver credentials", zap.Error(err))
		return 0
	}
	all, err := s.cfg.Clusters.Clusters()
	if err != nil {
		log.Warn("no start-up trash sweep: cluster configuration", zap.Error(err))
		return 0
	}
	queued := 0
	for _, cl := range all {
		cctx, cancel := context.WithTimeout(ctx, startSweepTimeout)
		queued += s.sweepCluster(cctx, cl.ClusterID, creds, log.With(zap.String("cluster", cl.ClusterID)))
		cancel()
	}
	return queued
}

// sweepCluster queues the sweep of each pool of a cluster whose trash
// holds images of ours.
func (s *Server) sweepCluster(ctx context.Context, clusterID string, creds *credentials.Credentials, log *zap.Logger) int {
	c, err := s.connect(ctx, fromParameters, "clusterID", clusterID, creds)
	if err != nil {
		log.Warn("start-up trash sweep: cannot connect", zap.Error(err))
		return 0
	}
	defer c.sess.Release()
	pools, err := c.sess.Pools(ctx)
	if err != nil {
		log.Warn("start-up trash sweep: cannot list the pools", zap.Error(err))
		return 0
	}
	queued := 0
	for _, pool := range pools {
		entries, err := c.sess.TrashList(ctx, c.pool(pool))
		if err != nil {
			log.Debug("start-up trash sweep: skipping a pool", zap.String("pool", pool), zap.Error(err))
			continue
		}
		for _, e := range entries {
			if ourTrashName.MatchString(e.Name) {
				log.Info("start-up trash sweep: purging the trashed images of ours", zap.String("pool", pool))
				s.purger.sweepOnce(c.target, c.pool(pool))
				queued++
				break
			}
		}
	}
	return queued
}
