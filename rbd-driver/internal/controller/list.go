package controller

import (
	"context"
	"errors"
	"sort"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/logging"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// GetSnapshot returns one snapshot.
func (s *Server) GetSnapshot(ctx context.Context, req *csi.GetSnapshotRequest) (*csi.GetSnapshotResponse, error) {
	if req.GetSnapshotId() == "" {
		return nil, toStatus(invalidArg("snapshot_id", "is required"))
	}
	creds, err := s.credentials(req.GetSecrets())
	if err != nil {
		return nil, err
	}
	snap, err := s.snapshotByID(ctx, req.GetSnapshotId(), creds)
	if err != nil {
		return nil, toStatus(err)
	}
	return &csi.GetSnapshotResponse{Snapshot: snap}, nil
}

func (s *Server) snapshotByID(ctx context.Context, id string, creds *credentials.Credentials) (*csi.Snapshot, error) {
	o, err := s.open(ctx, journal.Snapshots, "snapshot_id", id, creds)
	if err != nil {
		return nil, err
	}
	defer o.release()
	if isCephCSISnapshot(o.rec) {
		snap, err := cephCSISnapshot(ctx, o.cluster, o.id.ClusterID, o.id.LocationID, o.imagePool, o.rec)
		if errors.Is(err, backend.ErrNotFound) {
			return nil, notFound("snapshot_id", "snapshot %q: its image %s is missing", id, o.rec.ImageName)
		}
		return snap, err
	}
	if o.rec.ImageID == "" {
		return nil, notFound("snapshot_id", "snapshot %q is still being created", id)
	}
	return snapshotOf(o.id.ClusterID, o.id.LocationID, o.rec)
}

// credentials returns the request's credentials, or the driver's own when
// the request carries no secrets.
func (s *Server) credentials(secrets map[string]string) (*credentials.Credentials, error) {
	if len(secrets) == 0 && s.cfg.DefaultSecrets != nil {
		def, err := s.cfg.DefaultSecrets()
		if err != nil {
			return nil, status.Errorf(codes.FailedPrecondition, "driver credentials: %v", err)
		}
		secrets = def
	}
	return credentials.ForRBD(secrets)
}

// ListSnapshots lists the snapshots of this driver instance, sorted by ID.
// Without a filter it reads the snapshot directory of every pool of every
// configured cluster (one omap read per pool, one per snapshot). The
// starting token is the ID of the first entry to return.
func (s *Server) ListSnapshots(ctx context.Context, req *csi.ListSnapshotsRequest) (*csi.ListSnapshotsResponse, error) {
	if req.GetMaxEntries() < 0 {
		return nil, toStatus(invalidArg("max_entries", "%d is negative", req.GetMaxEntries()))
	}
	if tok := req.GetStartingToken(); tok != "" {
		if _, err := volid.Decode(tok); err != nil {
			return nil, status.Errorf(codes.Aborted, "starting_token %q is not a token of this driver", tok)
		}
	}
	creds, err := s.credentials(req.GetSecrets())
	if err != nil {
		return nil, err
	}
	snaps, err := s.listSnapshots(ctx, req, creds)
	if err != nil {
		return nil, toStatus(err)
	}
	return page(snaps, req.GetStartingToken(), int(req.GetMaxEntries())), nil
}

func (s *Server) listSnapshots(ctx context.Context, req *csi.ListSnapshotsRequest, creds *credentials.Credentials) ([]*csi.Snapshot, error) {
	if id := req.GetSnapshotId(); id != "" {
		snap, err := s.snapshotByID(ctx, id, creds)
		if isNotFound(err) {
			return nil, nil
		}
		if err != nil || (req.GetSourceVolumeId() != "" && snap.GetSourceVolumeId() != req.GetSourceVolumeId()) {
			return nil, err
		}
		return []*csi.Snapshot{snap}, nil
	}
	clusters, err := s.listClusters(req.GetSourceVolumeId())
	if err != nil {
		return nil, err
	}
	var all []*csi.Snapshot
	for _, id := range clusters {
		snaps, err := s.clusterSnapshots(ctx, id, creds)
		if err != nil {
			return nil, err
		}
		for _, snap := range snaps {
			if src := req.GetSourceVolumeId(); src == "" || snap.GetSourceVolumeId() == src {
				all = append(all, snap)
			}
		}
	}
	return all, nil
}

// listClusters returns the cluster of a source volume ID, or every
// configured cluster without one (none for a malformed ID).
func (s *Server) listClusters(sourceVolumeID string) ([]string, error) {
	if sourceVolumeID != "" {
		vid, err := volid.Decode(sourceVolumeID)
		if err != nil {
			return nil, nil
		}
		return []string{vid.ClusterID}, nil
	}
	all, err := s.cfg.Clusters.Clusters()
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(all))
	for _, c := range all {
		ids = append(ids, c.ClusterID)
	}
	return ids, nil
}

// clusterSnapshots lists the finished snapshots of one cluster.
func (s *Server) clusterSnapshots(ctx context.Context, clusterID string, creds *credentials.Credentials) ([]*csi.Snapshot, error) {
	c, err := s.connect(ctx, fromID, "source_volume_id", clusterID, creds)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer c.sess.Release()
	pools, err := c.sess.Pools(ctx)
	if err != nil {
		return nil, err
	}
	var out []*csi.Snapshot
	for _, pool := range pools {
		snaps, err := s.poolSnapshots(ctx, c, clusterID, pool)
		if errors.Is(err, backend.ErrPermission) {
			logging.FromContext(ctx).Debug("skipping a pool the user cannot read", zap.String("pool", pool))
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, snaps...)
	}
	return out, nil
}

// poolSnapshots lists the snapshots whose directory entries are in pool.
func (s *Server) poolSnapshots(ctx context.Context, c *cluster, clusterID, pool string) ([]*csi.Snapshot, error) {
	dir, err := s.journal(ctx, c, journal.Snapshots, pool, pool)
	if err != nil {
		return nil, err
	}
	entries, err := dir.List(ctx)
	if err != nil || len(entries) == 0 {
		return nil, err
	}
	poolID, err := c.sess.PoolID(ctx, pool)
	if err != nil {
		return nil, err
	}
	var out []*csi.Snapshot
	for _, e := range entries {
		snap, err := s.entrySnapshot(ctx, c, clusterID, pool, poolID, dir, e)
		if err != nil {
			return nil, err
		}
		if snap != nil {
			out = append(out, snap)
		}
	}
	return out, nil
}

// entrySnapshot reads the record of one directory entry; unfinished or
// vanished records give nil.
func (s *Server) entrySnapshot(ctx context.Context, c *cluster, clusterID string, dirPool string, dirPoolID int64, dir *journal.Journal, e journal.Entry) (*csi.Snapshot, error) {
	j, pool, poolID := dir, dirPool, dirPoolID
	if e.ImagePoolID != journal.SamePool {
		var err error
		pool, err = c.sess.PoolName(ctx, e.ImagePoolID)
		if errors.Is(err, backend.ErrPoolNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		// The directory stays in dirPool: a record ceph-csi split over the
		// two pools is read there (see journal's split records).
		if j, err = s.journal(ctx, c, journal.Snapshots, dirPool, pool); err != nil {
			return nil, err
		}
		poolID = e.ImagePoolID
	}
	rec, err := j.Get(ctx, e.UUID)
	switch {
	case errors.Is(err, journal.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	case isCephCSISnapshot(rec):
		snap, err := cephCSISnapshot(ctx, c, clusterID, poolID, pool, rec)
		if errors.Is(err, backend.ErrNotFound) {
			return nil, nil // unfinished
		}
		return snap, err
	case rec.ImageID == "":
		return nil, nil
	}
	return snapshotOf(clusterID, poolID, rec)
}

// page sorts snaps by ID and cuts the page starting at token (inclusive).
func page(snaps []*csi.Snapshot, token string, max int) *csi.ListSnapshotsResponse {
	sort.Slice(snaps, func(i, k int) bool { return snaps[i].GetSnapshotId() < snaps[k].GetSnapshotId() })
	start := sort.Search(len(snaps), func(i int) bool { return snaps[i].GetSnapshotId() >= token })
	snaps = snaps[start:]
	resp := &csi.ListSnapshotsResponse{}
	if max > 0 && len(snaps) > max {
		resp.NextToken = snaps[max].GetSnapshotId()
		snaps = snaps[:max]
	}
	for _, snap := range snaps {
		resp.Entries = append(resp.Entries, &csi.ListSnapshotsResponse_Entry{Snapshot: snap})
	}
	return resp
}
