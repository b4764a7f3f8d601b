package node

import (
	"context"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/logging"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/volctx"
)

// recoverStaging makes a staged volume usable before it is published
// again, when its device died with the previous node plugin container:
// an rbd-nbd device is re-attached; an rbd-fuse staging, whose FUSE mount
// cannot be revived, is torn down and staged again once nothing is
// published from it any more (its pods were restarted). Both need the
// healer's credentials (Config.HealSecrets), as NodePublishVolume carries
// no stage secret. Without them, or while the broken staging is still
// published, the publish fails with FailedPrecondition rather than
// bind-mounting a dead device. A healthy volume is returned as it is.
func (s *Server) recoverStaging(ctx context.Context, rec *stageRecord) (*stageRecord, error) {
	problem := s.checkDevice(ctx, rec)
	if problem == nil || rec.Origin == originCephCSI {
		return rec, nil
	}
	fail := func(why string) error {
		return status.Errorf(codes.FailedPrecondition, "volume %q: %s: %v; %s", rec.VolumeID, reasonDeviceUnavailable, problem, why)
	}
	creds, err := s.healCredentials()
	if err != nil {
		return nil, fail("unstage and stage it again (no --node-secrets-dir to recover it: " + err.Error() + ")")
	}
	if done, err := s.reattach(ctx, rec, creds); done || err != nil {
		return rec, internalErr(err)
	}
	if rec.Attachment.Mounter != volctx.MounterFuse {
		return nil, fail("unstage and stage it again")
	}
	if live := s.liveTargets(rec); len(live) > 0 {
		return nil, fail("it is still published (broken) at " + strings.Join(live, ", ") + "; restart the pods using it")
	}
	logging.FromContext(ctx).Warn("rbd-fuse of a staged volume is gone: staging it again", zap.String("volumeID", rec.VolumeID),
		zap.NamedError("problem", problem))
	p := restageParams(rec, creds)
	// The dead client's watch lingers (about 30 s): wait for it before
	// tearing anything down, so that a publish retried meanwhile still
	// finds the volume staged (broken) and retries the recovery.
	req, err := s.attachRequest(p)
	if err == nil {
		err = s.checkNoOtherHolder(ctx, p, req)
	}
	if err != nil {
		return nil, err
	}
	if err := s.teardown(ctx, rec); err != nil {
		return nil, status.Errorf(codes.Internal, "clearing the broken staging of volume %q: %v", rec.VolumeID, err)
	}
	if err := s.stage(ctx, p); err != nil {
		return nil, err
	}
	return s.stagedFor(ctx, &publishParams{volumeID: p.volumeID, stagingPath: p.stagingPath, cap: p.cap})
}

// healCredentials returns the healer's credentials, or an error without
// them.
func (s *Server) healCredentials() (*credentials.Credentials, error) {
	if s.healSecrets == nil {
		return nil, status.Error(codes.FailedPrecondition, "no healer credentials")
	}
	secrets, err := s.healSecrets()
	if err != nil {
		return nil, err
	}
	return credentials.ForRBD(secrets)
}

// restageParams rebuilds the stage parameters of a record.
func restageParams(rec *stageRecord, creds *credentials.Credentials) *stageParams {
	return &stageParams{
		volumeID: rec.VolumeID, stagingPath: rec.StagingPath, fsType: rec.FsType, creds: creds,
		cap:       capability{block: rec.Block, fsType: rec.FsType, mode: csi.VolumeCapability_AccessMode_Mode(rec.Mode)},
		clusterID: rec.ClusterID, pool: rec.Pool, namespace: rec.Namespace, image: rec.Image,
		mounter: rec.Attachment.Mounter, mapOptions: rec.MapOptions, unmapOpts: rec.Attachment.UnmapOptions,
	}
}
