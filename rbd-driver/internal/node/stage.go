package node

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
	"github.com/seed-6a310834/ceph-csi/shared/logging"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/host"
	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/volctx"
)

// NodeStageVolume attaches the image and, for a filesystem volume, formats
// it if it has no filesystem yet and mounts it at the staging path. A block
// volume keeps its device, which NodePublishVolume bind-mounts. Staging a
// volume that is already staged the same way succeeds; a staging that was
// interrupted or broke (its device or helper is gone) is redone.
func (s *Server) NodeStageVolume(ctx context.Context, req *csi.NodeStageVolumeRequest) (*csi.NodeStageVolumeResponse, error) {
	p, err := stageParamsFrom(req)
	if err != nil {
		return nil, err
	}
	release, err := s.lockVolume(p.volumeID)
	if err != nil {
		return nil, err
	}
	defer release()
	staged, err := s.alreadyStaged(ctx, p)
	if err == nil && !staged {
		err = s.stage(ctx, p)
	}
	if err != nil {
		return nil, err
	}
	return &csi.NodeStageVolumeResponse{}, nil
}

// alreadyStaged checks the volume's stage record: true if the volume is
// staged as requested and healthy, an error if it is staged differently.
// A broken or interrupted staging is torn down so that it can be redone.
func (s *Server) alreadyStaged(ctx context.Context, p *stageParams) (bool, error) {
	rec, err := s.loadRecord(ctx, p.volumeID, p.stagingPath)
	if err != nil || rec == nil {
		return false, err
	}
	log := logging.FromContext(ctx).With(zap.String("volumeID", p.volumeID))
	if rec.Complete {
		if err := compatible(rec, p); err != nil {
			return false, err
		}
		problem := s.checkHealth(ctx, rec)
		if problem != nil {
			if done, err := s.reattach(ctx, rec, p.creds); done && err == nil {
				problem = s.checkHealth(ctx, rec)
			}
		}
		if problem == nil {
			log.Info("volume already staged", zap.String("device", rec.Attachment.Device))
			return true, nil
		}
		log.Warn("staged volume is broken, staging it again", zap.Error(problem))
	}
	if err := s.teardown(ctx, rec); err != nil {
		return false, status.Errorf(codes.Internal, "clearing the earlier staging of volume %q: %v", p.volumeID, err)
	}
	return false, nil
}

// compatible checks that a staged volume's record matches a new request.
func compatible(rec *stageRecord, p *stageParams) error {
	switch {
	case rec.StagingPath != p.stagingPath:
		return status.Errorf(codes.FailedPrecondition, "volume %q is already staged at %s", p.volumeID, rec.StagingPath)
	case rec.Block != p.cap.block:
		return status.Errorf(codes.AlreadyExists, "volume %q is already staged with access type %s", p.volumeID, accessType(rec.Block))
	case rec.FsType != p.fsType:
		return status.Errorf(codes.AlreadyExists, "volume %q is already staged with filesystem %s", p.volumeID, rec.FsType)
	case rec.ReadOnly != p.cap.readOnly():
		return status.Errorf(codes.AlreadyExists, "volume %q is already staged with read-only = %v", p.volumeID, rec.ReadOnly)
	}
	return nil
}

func accessType(block bool) string {
	if block {
		return "block"
	}
	return "mount"
}

// stage attaches, records, and mounts; on error it undoes what it did.
// The record is written before the attach (incomplete), so that an
// interrupted attach is found and undone by the next try.
func (s *Server) stage(ctx context.Context, p *stageParams) error {
	req, attacher, err := s.prepareStage(ctx, p)
	if err != nil {
		return err
	}
	rec := newRecord(p, req.Namespace)
	rec.Attachment.Mounter = p.mounter
	if err := s.records.save(rec); err != nil {
		return internalErr(err)
	}
	a, err := s.attach(ctx, attacher, req, p, rec)
	if err != nil {
		_ = s.records.remove(p.volumeID) // the attacher's work directory's parent
		return attachError(req, p.mounter, err)
	}
	rec.Attachment, rec.MapOptions = *a, p.mapOptions
	if err = s.records.save(rec); err == nil && !rec.Block {
		err = s.mountStaging(ctx, rec, p)
	}
	if err == nil {
		rec.Complete = true
		err = s.records.save(rec)
	}
	if err != nil {
		s.rollback(ctx, rec)
		return internalErr(err)
	}
	logging.FromContext(ctx).Info("volume staged", zap.String("volumeID", p.volumeID),
		zap.String("device", a.Device), zap.String("mounter", a.Mounter), zap.String("stagingPath", p.stagingPath))
	return nil
}

// prepareStage checks everything that must hold before an image is
// attached: a known cluster and mounter, a free staging path, no other
// client holding a single-node volume, no mapping of the image on this
// host. It returns the attach request and the attacher.
func (s *Server) prepareStage(ctx context.Context, p *stageParams) (*host.Request, host.Attacher, error) {
	req, err := s.attachRequest(p)
	if err != nil {
		return nil, nil, err
	}
	attacher, err := s.attachers.Get(p.mounter)
	if err != nil {
		return nil, nil, status.Errorf(codes.InvalidArgument, "volume_context[%q]: %v", volctx.Mounter, err)
	}
	if err := s.checkStagingFree(p); err != nil {
		return nil, nil, err
	}
	if err := s.checkNoOtherHolder(ctx, p, req); err != nil {
		return nil, nil, err
	}
	if err := s.checkNotMapped(ctx, p, req); err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(p.stagingPath, 0o750); err != nil {
		return nil, nil, status.Errorf(codes.Internal, "creating staging path: %v", err)
	}
	return req, attacher, nil
}

// checkStagingFree refuses, before anything is attached, a filesystem
// staging path that already holds a mount (another volume's, or a stranger's).
func (s *Server) checkStagingFree(p *stageParams) error {
	if p.cap.block {
		return nil
	}
	mounted, err := s.isMounted(p.stagingPath)
	if err != nil || mounted {
		return status.Errorf(codes.FailedPrecondition, "staging path %s is already a mount point (%v)", p.stagingPath, err)
	}
	return nil
}

func newRecord(p *stageParams, namespace string) *stageRecord {
	return &stageRecord{
		VolumeID: p.volumeID, StagingPath: p.stagingPath, Block: p.cap.block, FsType: p.fsType,
		ReadOnly: p.cap.readOnly(), ClusterID: p.clusterID, Pool: p.pool, Namespace: namespace, Image: p.image,
		Mode: int32(p.cap.mode),
	}
}

// attachRequest builds the attach request, looking the monitors (and the
// default RADOS namespace) up in the cluster configuration.
func (s *Server) attachRequest(p *stageParams) (*host.Request, error) {
	c, err := s.clusters.Get(p.clusterID)
	switch {
	case errors.Is(err, clusterconfig.ErrClusterNotFound):
		return nil, status.Errorf(codes.InvalidArgument, "volume_context[%q]: %v", volctx.ClusterID, err)
	case err != nil:
		return nil, status.Errorf(codes.Internal, "reading the cluster configuration: %v", err)
	}
	namespace := p.namespace
	if namespace == "" {
		namespace = c.RBD.RadosNamespace
	}
	mapOpts := withKRBDOptions(p.mapOptions, c.ReadAffinityOptions(s.crushLabels, s.nodeLabels))
	return &host.Request{
		VolumeID: p.volumeID, Pool: p.pool, Namespace: namespace, Image: p.image,
		Monitors: c.MonitorsString(), Creds: p.creds, MapOptions: mapOpts, UnmapOptions: p.unmapOpts,
		ReadOnly: p.cap.readOnly(), WorkDir: s.records.fuseWorkDir(p.volumeID), NetNamespace: c.RBD.NetNamespaceFilePath,
		LogFile: host.NbdLogFile(p.logDir, p.volumeID), LogStrategy: p.logStrategy,
	}, nil
}

// attachError maps an attach failure to a gRPC status.
func attachError(r *host.Request, mounter string, err error) error {
	code := codes.Internal
	switch {
	case errors.Is(err, host.ErrImageNotFound):
		code = codes.NotFound
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	}
	return status.Errorf(code, "attaching image %s with %s: %v", r.Spec(), mounter, err)
}

// internalErr turns a plain error into an Internal status; status errors
// and nil pass through.
func internalErr(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(codes.Internal, err.Error())
}

// rollback undoes a partial staging, even if ctx has ended.
func (s *Server) rollback(ctx context.Context, rec *stageRecord) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := s.teardown(ctx, rec); err != nil {
		logging.FromContext(ctx).Error("rolling back a failed staging", zap.String("volumeID", rec.VolumeID), zap.Error(err))
	}
}

// teardown unmounts the staging path (if the volume's device is mounted
// there), detaches the device and removes the record.
func (s *Server) teardown(ctx context.Context, rec *stageRecord) error {
	if rec.Origin == originCephCSI {
		return s.teardownCephCSI(ctx, rec)
	}
	if !rec.Block && rec.Attachment.Device != "" {
		if err := s.unmountDevice(ctx, rec.StagingPath, rec.Attachment.Device); err != nil {
			return err
		}
	}
	if err := s.detach(ctx, rec); err != nil {
		return err
	}
	return s.records.remove(rec.VolumeID)
}

// detach detaches the record's device. An attach that was interrupted
// before its device was recorded is found by the image's mapping with the
// record's mounter (krbd, rbd-nbd; the fuse attacher clears its own work
// directory).
func (s *Server) detach(ctx context.Context, rec *stageRecord) error {
	attacher, err := s.attachers.Get(rec.Attachment.Mounter)
	if err != nil {
		return err
	}
	if rec.Attachment.Device == "" && rec.Attachment.Mounter != volctx.MounterFuse {
		dev, err := s.mappedDevice(ctx, rec)
		if err != nil {
			return err
		}
		rec.Attachment.Device = dev
	}
	if err := attacher.Detach(ctx, &rec.Attachment); err != nil {
		return fmt.Errorf("detaching %s: %w", rec.Attachment.Device, err)
	}
	return nil
}
