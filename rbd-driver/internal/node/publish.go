package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/mount-utils"

	"github.com/seed-6a310834/ceph-csi/shared/logging"
)

// NodeUnstageVolume undoes NodeStageVolume: unmount the staging path,
// detach the device (and stop rbd-fuse) and forget the record. A volume
// that is not staged (at this path) is a success.
func (s *Server) NodeUnstageVolume(ctx context.Context, req *csi.NodeUnstageVolumeRequest) (*csi.NodeUnstageVolumeResponse, error) {
	if err := firstError(required("volume_id", req.GetVolumeId()),
		requiredPath("staging_target_path", req.GetStagingTargetPath())); err != nil {
		return nil, err
	}
	release, err := s.lockVolume(req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	defer release()
	rec, err := s.loadRecord(ctx, req.GetVolumeId(), req.GetStagingTargetPath())
	if err != nil {
		return nil, err
	}
	if rec == nil || rec.StagingPath != req.GetStagingTargetPath() {
		logging.FromContext(ctx).Info("volume not staged here, nothing to do", zap.String("volumeID", req.GetVolumeId()))
		return &csi.NodeUnstageVolumeResponse{}, nil
	}
	if live := s.liveTargets(rec); len(live) > 0 {
		return nil, status.Errorf(codes.FailedPrecondition, "volume %q is still published at %v", rec.VolumeID, live)
	}
	if err := s.teardown(ctx, rec); err != nil {
		return nil, status.Errorf(codes.Internal, "unstaging volume %q: %v", rec.VolumeID, err)
	}
	logging.FromContext(ctx).Info("volume unstaged", zap.String("volumeID", rec.VolumeID))
	return &csi.NodeUnstageVolumeResponse{}, nil
}

// liveTargets returns the recorded publications that are still mounted.
func (s *Server) liveTargets(rec *stageRecord) []string {
	var live []string
	for _, t := range rec.Targets {
		if mounted, err := s.isMounted(t.Path); mounted || err != nil {
			live = append(live, t.Path)
		}
	}
	return live
}

// publishParams is a validated NodePublishVolumeRequest.
type publishParams struct {
	volumeID    string
	stagingPath string
	targetPath  string
	cap         capability
	readOnly    bool
}

func publishParamsFrom(req *csi.NodePublishVolumeRequest) (*publishParams, error) {
	if err := firstError(required("volume_id", req.GetVolumeId()),
		requiredPath("staging_target_path", req.GetStagingTargetPath()),
		requiredPath("target_path", req.GetTargetPath())); err != nil {
		return nil, err
	}
	c, err := checkCapability(req.GetVolumeCapability())
	if err != nil {
		return nil, err
	}
	return &publishParams{
		volumeID: req.GetVolumeId(), stagingPath: req.GetStagingTargetPath(), targetPath: req.GetTargetPath(),
		cap: c, readOnly: req.GetReadonly() || c.readOnly(),
	}, nil
}

// NodePublishVolume bind-mounts the staged volume at the target path:
// the staging mount for a filesystem volume (read-only when asked), the
// device onto a file for a block volume.
func (s *Server) NodePublishVolume(ctx context.Context, req *csi.NodePublishVolumeRequest) (*csi.NodePublishVolumeResponse, error) {
	p, err := publishParamsFrom(req)
	if err != nil {
		return nil, err
	}
	release, err := s.lockVolume(p.volumeID)
	if err != nil {
		return nil, err
	}
	defer release()
	rec, err := s.stagedFor(ctx, p)
	if err == nil {
		rec, err = s.recoverStaging(ctx, rec)
	}
	if err != nil {
		return nil, err
	}
	done, err := s.checkPublications(rec, p)
	if err == nil && !done {
		err = s.publish(ctx, rec, p)
	}
	if err != nil {
		return nil, err
	}
	return &csi.NodePublishVolumeResponse{}, nil
}

// stagedFor returns the stage record of a volume to publish.
func (s *Server) stagedFor(ctx context.Context, p *publishParams) (*stageRecord, error) {
	rec, err := s.loadRecord(ctx, p.volumeID, p.stagingPath)
	switch {
	case err != nil:
		return nil, err
	case rec == nil || !rec.Complete:
		return nil, status.Errorf(codes.FailedPrecondition, "volume %q is not staged on this node", p.volumeID)
	case rec.StagingPath != p.stagingPath:
		return nil, status.Errorf(codes.FailedPrecondition, "volume %q is staged at %s, not at %s",
			p.volumeID, rec.StagingPath, p.stagingPath)
	case rec.Block != p.cap.block:
		return nil, status.Errorf(codes.InvalidArgument, "volume %q is staged with access type %s",
			p.volumeID, accessType(rec.Block))
	}
	return rec, nil
}

// checkPublications drops publications that are gone and reports whether
// the volume is already published at the target as requested. It refuses a
// second publication of a single-writer volume.
func (s *Server) checkPublications(rec *stageRecord, p *publishParams) (bool, error) {
	live := s.liveTargets(rec)
	rec.Targets = slices.DeleteFunc(rec.Targets, func(t publishTarget) bool { return !slices.Contains(live, t.Path) })
	if t := rec.target(p.targetPath); t != nil {
		if t.ReadOnly != p.readOnly {
			return false, status.Errorf(codes.AlreadyExists, "volume %q is already published at %s with read-only = %v",
				p.volumeID, p.targetPath, t.ReadOnly)
		}
		return true, nil
	}
	if mounted, _ := s.isMounted(p.targetPath); mounted {
		// Published before a takeover or a crash, but not recorded: a
		// second bind mount would stack on the first.
		rec.Targets = append(rec.Targets, publishTarget{Path: p.targetPath, ReadOnly: p.readOnly, SingleWriter: p.cap.singleWriter()})
		return true, internalErr(s.records.save(rec))
	}
	for _, t := range rec.Targets {
		if p.cap.singleWriter() || t.SingleWriter {
			return false, status.Errorf(codes.FailedPrecondition,
				"volume %q has a single-node-single-writer access mode and is already published at %s", p.volumeID, t.Path)
		}
	}
	return false, nil
}

// publish makes the bind mount and records it.
func (s *Server) publish(ctx context.Context, rec *stageRecord, p *publishParams) error {
	created, err := s.bindMount(rec, p)
	if err != nil {
		return err
	}
	rec.Targets = append(rec.Targets, publishTarget{Path: p.targetPath, ReadOnly: p.readOnly, SingleWriter: p.cap.singleWriter()})
	if err := s.records.save(rec); err != nil {
		_ = s.mounter.Unmount(p.targetPath)
		if created {
			_ = os.Remove(p.targetPath)
		}
		return internalErr(err)
	}
	logging.FromContext(ctx).Info("volume published", zap.String("volumeID", p.volumeID),
		zap.String("targetPath", p.targetPath), zap.Bool("readOnly", p.readOnly))
	return nil
}

// bindMount mounts the staging path (filesystem) or the device (block) at
// the target, creating the target directory or file. It reports whether it
// created the target, and removes it again on error.
func (s *Server) bindMount(rec *stageRecord, p *publishParams) (bool, error) {
	source := rec.mountPath()
	if rec.Block {
		source = rec.Attachment.Device
	}
	created, err := createTarget(p.targetPath, rec.Block)
	if err != nil {
		return false, status.Errorf(codes.Internal, "creating target path: %v", err)
	}
	opts := []string{"bind"}
	if p.readOnly {
		opts = append(opts, "ro")
	}
	if !rec.Block {
		opts = append(opts, p.cap.mountFlags...)
	}
	if err := s.mounter.Mount(source, p.targetPath, "", opts); err != nil {
		if created {
			_ = os.Remove(p.targetPath)
		}
		return false, status.Errorf(codes.Internal, "bind-mounting %s at %s: %v", source, p.targetPath, err)
	}
	return created, nil
}

// createTarget creates the target: a directory, or a file for a block
// device. It reports whether it did.
func createTarget(path string, file bool) (bool, error) {
	if _, err := os.Lstat(path); err == nil {
		return false, nil
	}
	if !file {
		return true, os.MkdirAll(path, 0o750)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return false, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return false, err
	}
	return true, f.Close()
}

// NodeUnpublishVolume unmounts the target path and removes it. A target
// that is already gone is a success.
func (s *Server) NodeUnpublishVolume(ctx context.Context, req *csi.NodeUnpublishVolumeRequest) (*csi.NodeUnpublishVolumeResponse, error) {
	if err := firstError(required("volume_id", req.GetVolumeId()),
		requiredPath("target_path", req.GetTargetPath())); err != nil {
		return nil, err
	}
	release, err := s.lockVolume(req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	defer release()
	if err := s.cleanupTarget(req.GetTargetPath()); err != nil {
		return nil, status.Errorf(codes.Internal, "unpublishing %s: %v", req.GetTargetPath(), err)
	}
	if err := s.forgetTarget(req.GetVolumeId(), req.GetTargetPath()); err != nil {
		return nil, internalErr(err)
	}
	logging.FromContext(ctx).Info("volume unpublished", zap.String("volumeID", req.GetVolumeId()),
		zap.String("targetPath", req.GetTargetPath()))
	return &csi.NodeUnpublishVolumeResponse{}, nil
}

// cleanupTarget unmounts path (also a broken mount) and removes it.
func (s *Server) cleanupTarget(path string) error {
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := mount.CleanupMountPoint(path, s.mounter, true); err != nil {
		return fmt.Errorf("cleaning up mount point: %w", err)
	}
	return nil
}

// forgetTarget removes path from the volume's record, if any.
func (s *Server) forgetTarget(volumeID, path string) error {
	rec, err := s.records.load(volumeID)
	if err != nil || rec == nil || rec.target(path) == nil {
		return err
	}
	rec.removeTarget(path)
	return s.records.save(rec)
}
