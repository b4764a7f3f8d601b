package node

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/logging"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/host"
	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/volctx"
)

// attach attaches the image; with tryOtherMounters, a krbd map the kernel
// refuses for an image feature is retried with rbd-nbd (ceph-csi's
// fallback), and the record says so.
func (s *Server) attach(ctx context.Context, attacher host.Attacher, req *host.Request, p *stageParams, rec *stageRecord) (*host.Attachment, error) {
	a, err := attacher.Attach(ctx, req)
	if err == nil || !errors.Is(err, host.ErrUnsupportedFeatures) || !p.tryOtherMounters || p.mounter != volctx.MounterKRBD {
		return a, err
	}
	nbd, nerr := s.attachers.Get(volctx.MounterNBD)
	if nerr != nil {
		return nil, err
	}
	logging.FromContext(ctx).Warn("krbd cannot map the image, trying rbd-nbd (tryOtherMounters)",
		zap.String("volumeID", p.volumeID), zap.Error(err))
	p.mounter, rec.Attachment.Mounter = volctx.MounterNBD, volctx.MounterNBD
	if err := s.records.save(rec); err != nil {
		return nil, err
	}
	return nbd.Attach(ctx, req)
}

// reattach serves again the rbd-nbd device of a staged volume whose
// rbd-nbd process is gone (the node plugin restarted): the device and its
// mounts are kept, so the workloads go on. It reports whether it did.
func (s *Server) reattach(ctx context.Context, rec *stageRecord, creds *credentials.Credentials) (bool, error) {
	attacher, err := s.attachers.Get(rec.Attachment.Mounter)
	if err != nil {
		return false, err
	}
	ra, ok := attacher.(host.Reattacher)
	if !ok || rec.Attachment.Mounter != volctx.MounterNBD || rec.Attachment.Device == "" {
		return false, nil
	}
	if alive, err := ra.Alive(ctx, &rec.Attachment); err != nil || alive {
		return false, err
	}
	req, err := s.reattachRequest(rec, creds)
	if err != nil {
		return false, err
	}
	return true, ra.Reattach(ctx, req, &rec.Attachment)
}

// reattachRequest rebuilds the map request of a record.
func (s *Server) reattachRequest(rec *stageRecord, creds *credentials.Credentials) (*host.Request, error) {
	c, err := s.clusters.Get(rec.ClusterID)
	if err != nil {
		return nil, err
	}
	return &host.Request{
		VolumeID: rec.VolumeID, Pool: rec.Pool, Namespace: rec.Namespace, Image: rec.Image, Monitors: c.MonitorsString(),
		Creds: creds, MapOptions: rec.MapOptions, ReadOnly: rec.ReadOnly, NetNamespace: rec.Attachment.NetNamespace,
		LogFile: rec.Attachment.LogFile, LogStrategy: rec.Attachment.LogStrategy,
	}, nil
}

// Heal recovers, at start, the staged volumes whose device died with the
// previous node plugin container, with the credentials of
// Config.HealSecrets: rbd-nbd devices are re-attached (ceph-csi's volume
// healer); rbd-fuse stagings that nothing is published from any more are
// staged again (see recoverStaging). Each volume's failure is logged and
// the others go on; it returns how many it recovered.
func (s *Server) Heal(ctx context.Context) (int, error) {
	if s.healSecrets == nil {
		return 0, nil
	}
	if _, err := s.healCredentials(); err != nil {
		return 0, fmt.Errorf("the healer's credentials: %w", err)
	}
	dirs, err := s.records.list()
	if err != nil {
		return 0, err
	}
	healed := 0
	for _, dir := range dirs {
		if s.healOne(ctx, dir) {
			healed++
		}
	}
	return healed, nil
}

// healOne recovers one volume if it needs it and can be.
func (s *Server) healOne(ctx context.Context, dir string) bool {
	rec, err := s.records.loadFile(filepath.Join(dir, recordName))
	if err != nil || rec == nil || !rec.Complete || rec.Origin == originCephCSI ||
		(rec.Attachment.Mounter != volctx.MounterNBD && rec.Attachment.Mounter != volctx.MounterFuse) {
		return false
	}
	release, err := s.lockVolume(rec.VolumeID)
	if err != nil {
		return false
	}
	defer release()
	if s.checkDevice(ctx, rec) == nil {
		return false
	}
	if _, err := s.recoverStaging(ctx, rec); err != nil {
		logging.FromContext(ctx).Warn("cannot recover a staged volume at start", zap.String("volumeID", rec.VolumeID), zap.Error(err))
		return false
	}
	return true
}
