package node

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/host"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/logging"
	"github.com/seed-6a310834/ceph-csi/shared/oplock"
)

// NodePublishVolume bind-mounts the staging path at the target path,
// read-only when asked or for reader-only modes. A volume may be published
// at several targets, except a SINGLE_NODE_SINGLE_WRITER one
// (FailedPrecondition). A dead staging mount is mounted again when the
// request carries node secrets; a dead target is bound again.
func (s *Server) NodePublishVolume(ctx context.Context, req *csi.NodePublishVolumeRequest) (*csi.NodePublishVolumeResponse, error) {
	switch {
	case req.GetVolumeId() == "":
		return nil, status.Error(codes.InvalidArgument, "volume_id: missing")
	case req.GetTargetPath() == "":
		return nil, status.Error(codes.InvalidArgument, "target_path: missing")
	case req.GetStagingTargetPath() == "":
		return nil, status.Error(codes.InvalidArgument, "staging_target_path: missing")
	}
	if err := checkPath("staging_target_path", req.GetStagingTargetPath()); err != nil {
		return nil, err
	}
	if err := checkPath("target_path", req.GetTargetPath()); err != nil {
		return nil, err
	}
	if err := checkCapability(req.GetVolumeCapability()); err != nil {
		return nil, err
	}
	release, err := s.locks.Acquire(oplock.Key{Kind: oplock.KindVolumeID, ID: req.GetVolumeId()},
		oplock.Key{Kind: oplock.KindTargetPath, ID: req.GetTargetPath()})
	if err != nil {
		return nil, err
	}
	defer release()
	staging, target := filepath.Clean(req.GetStagingTargetPath()), filepath.Clean(req.GetTargetPath())
	if err := s.ensureStaged(ctx, req, staging); err != nil {
		return nil, err
	}
	if err := s.publish(ctx, req, staging, target); err != nil {
		return nil, err
	}
	return &csi.NodePublishVolumeResponse{}, nil
}

// ensureStaged checks the staging mount, mounting it again if it died.
func (s *Server) ensureStaged(ctx context.Context, req *csi.NodePublishVolumeRequest, staging string) error {
	state, _, err := s.inspect(staging)
	switch {
	case err != nil:
		return status.Errorf(codes.Internal, "inspect %s: %v", staging, err)
	case state == healthy:
		return nil
	case state == notMounted:
		return status.Errorf(codes.FailedPrecondition, "volume %s is not staged at %s", req.GetVolumeId(), staging)
	}
	vol, err := s.parseVolume(req.GetVolumeId(), req.GetVolumeContext(), req.GetVolumeCapability())
	if err != nil {
		return err
	}
	creds, err := s.remountCredentials(req.GetSecrets(), vol.static)
	if err != nil {
		return status.Errorf(codes.FailedPrecondition,
			"the staging mount at %s is dead and neither the request nor --node-secrets-dir gives node secrets to mount it again (%v): NodeStageVolume it again",
			staging, err)
	}
	logging.FromContext(ctx).Warn("staging mount is dead: mounting it again", zap.String("staging_path", staging))
	if err := s.unstage(ctx, staging); err != nil {
		return status.Errorf(codes.Internal, "remove the dead mount at %s: %v", staging, err)
	}
	return s.stage(ctx, req.GetVolumeId(), staging, vol, creds)
}

// remountCredentials are the request's node secrets, else those of
// Config.HealSecrets.
func (s *Server) remountCredentials(secrets map[string]string, static bool) (*credentials.Credentials, error) {
	if len(secrets) == 0 && s.cfg.HealSecrets != nil {
		var err error
		if secrets, err = s.cfg.HealSecrets(); err != nil {
			return nil, err
		}
	}
	return nodeCredentials(secrets, static)
}

// publish binds staging at target, or accepts the existing bind.
func (s *Server) publish(ctx context.Context, req *csi.NodePublishVolumeRequest, staging, target string) error {
	mounts, err := s.cfg.Host.Mounts()
	if err != nil {
		return status.Errorf(codes.Internal, "read the mount table: %v", err)
	}
	stagingMount, _ := host.Find(mounts, staging)
	done, err := s.checkTarget(ctx, mounts, stagingMount, target)
	if done || err != nil {
		return err
	}
	if mounts, err = s.cfg.Host.Mounts(); err != nil {
		return status.Errorf(codes.Internal, "read the mount table: %v", err)
	}
	mode := req.GetVolumeCapability().GetAccessMode().GetMode()
	if others := binds(mounts, stagingMount, staging, target); mode == csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER && len(others) > 0 {
		return status.Errorf(codes.FailedPrecondition,
			"volume %s has access mode SINGLE_NODE_SINGLE_WRITER and is already published at %v", req.GetVolumeId(), others)
	}
	if err := os.MkdirAll(target, 0o750); err != nil {
		return status.Errorf(codes.Internal, "create %s: %v", target, err)
	}
	readOnly := req.GetReadonly() || readOnlyMode(req.GetVolumeCapability())
	if err := s.cfg.Host.Bind(staging, target, readOnly); err != nil {
		return status.Errorf(codes.Internal, "publish: %v", err)
	}
	logging.FromContext(ctx).Info("published", zap.String("target_path", target), zap.Bool("read_only", readOnly))
	return nil
}

// checkTarget looks at what is mounted at target: a healthy bind of the
// staging mount is done; a dead mount is removed; anything else is
// AlreadyExists.
func (s *Server) checkTarget(ctx context.Context, mounts []host.MountPoint, stagingMount host.MountPoint, target string) (bool, error) {
	tm, ok := host.Find(mounts, target)
	if !ok {
		return false, nil
	}
	err := s.cfg.Host.Check(target)
	switch {
	case err == nil && tm.SameFile(stagingMount):
		return true, nil
	case err == nil:
		return false, status.Errorf(codes.AlreadyExists, "target_path %s holds another mount (%s %s)", target, tm.FSType, tm.Source)
	case host.IsCorrupted(err):
		logging.FromContext(ctx).Warn("dead mount at the target: binding it again", zap.String("target_path", target))
		if err := s.unmountAll(target); err != nil {
			return false, status.Errorf(codes.Internal, "remove the dead mount at %s: %v", target, err)
		}
		return false, nil
	}
	return false, status.Errorf(codes.Internal, "check %s: %v", target, err)
}

// NodeUnpublishVolume unmounts the target path and removes it. Idempotent.
func (s *Server) NodeUnpublishVolume(ctx context.Context, req *csi.NodeUnpublishVolumeRequest) (*csi.NodeUnpublishVolumeResponse, error) {
	switch {
	case req.GetVolumeId() == "":
		return nil, status.Error(codes.InvalidArgument, "volume_id: missing")
	case req.GetTargetPath() == "":
		return nil, status.Error(codes.InvalidArgument, "target_path: missing")
	}
	if err := checkPath("target_path", req.GetTargetPath()); err != nil {
		return nil, err
	}
	release, err := s.locks.Acquire(oplock.Key{Kind: oplock.KindVolumeID, ID: req.GetVolumeId()},
		oplock.Key{Kind: oplock.KindTargetPath, ID: req.GetTargetPath()})
	if err != nil {
		return nil, err
	}
	defer release()
	target := filepath.Clean(req.GetTargetPath())
	if err := s.unmountAll(target); err != nil {
		return nil, status.Errorf(codes.Internal, "unmount %s: %v", target, err)
	}
	if err := os.Remove(target); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, status.Errorf(codes.Internal, "remove %s: %v", target, err)
	}
	logging.FromContext(ctx).Info("unpublished", zap.String("target_path", target))
	return &csi.NodeUnpublishVolumeResponse{}, nil
}
