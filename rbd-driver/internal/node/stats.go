package node

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// NodeGetVolumeStats reports the bytes and inodes of a filesystem volume
// (statfs) or the size of a block volume. A volume whose device or helper
// is gone is FailedPrecondition with the reason NodeGetVolumeHealth
// reports (CSI 1.13 removed the volume condition from this RPC): a
// filesystem over a dead rbd-fuse still answers statfs from memory.
func (s *Server) NodeGetVolumeStats(ctx context.Context, req *csi.NodeGetVolumeStatsRequest) (*csi.NodeGetVolumeStatsResponse, error) {
	if err := firstError(required("volume_id", req.GetVolumeId()),
		required("volume_path", req.GetVolumePath())); err != nil {
		return nil, err
	}
	rec, err := s.stagedRecord(ctx, req.GetVolumeId(), s.stagingPathsOf(req.GetStagingTargetPath(), req.GetVolumePath())...)
	if err != nil {
		return nil, err
	}
	path := req.GetVolumePath()
	if path != rec.StagingPath && path != rec.MountPath && rec.target(path) == nil && !s.publishedElsewhere(rec, path) {
		return nil, status.Errorf(codes.NotFound, "volume %q is neither staged nor published at %s", rec.VolumeID, path)
	}
	if err := checkPathExists(path); err != nil {
		return nil, err
	}
	if err := s.checkDevice(ctx, rec); err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "volume %q: %s: %v", rec.VolumeID, reasonDeviceUnavailable, err)
	}
	if path == rec.StagingPath {
		path = rec.mountPath()
	}
	usage, err := s.usage(rec, path)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "volume %q: %v", rec.VolumeID, err)
	}
	return &csi.NodeGetVolumeStatsResponse{Usage: usage}, nil
}

// usage returns the usage of a filesystem volume at path, or the size of a
// block volume's device.
func (s *Server) usage(rec *stageRecord, path string) ([]*csi.VolumeUsage, error) {
	if rec.Block {
		size, err := s.deviceSize(rec.Attachment.Device)
		if err != nil {
			return nil, fmt.Errorf("reading the device size: %w", err)
		}
		return []*csi.VolumeUsage{{Unit: csi.VolumeUsage_BYTES, Total: size}}, nil
	}
	return fsUsage(path)
}

// fsUsage returns the bytes and inodes of the filesystem at path.
func fsUsage(path string) ([]*csi.VolumeUsage, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return nil, fmt.Errorf("statfs %s: %w", path, err)
	}
	bsize := st.Frsize
	if bsize <= 0 {
		bsize = st.Bsize
	}
	return []*csi.VolumeUsage{
		{
			Unit:      csi.VolumeUsage_BYTES,
			Total:     int64(st.Blocks) * bsize,
			Available: int64(st.Bavail) * bsize,
			Used:      int64(st.Blocks-st.Bfree) * bsize,
		},
		{
			Unit:      csi.VolumeUsage_INODES,
			Total:     int64(st.Files),
			Available: int64(st.Ffree),
			Used:      int64(st.Files - st.Ffree),
		},
	}, nil
}

// checkHealth returns why a staged volume is not usable, or nil: its
// device or helper is gone, or its staging mount is.
func (s *Server) checkHealth(ctx context.Context, rec *stageRecord) error {
	if err := s.checkDevice(ctx, rec); err != nil {
		return err
	}
	return s.checkPathMounted(rec, rec.mountPath())
}

// checkDevice returns why the volume's device is not usable, or nil.
func (s *Server) checkDevice(ctx context.Context, rec *stageRecord) error {
	attacher, err := s.attachers.Get(rec.Attachment.Mounter)
	if err != nil {
		return err
	}
	return attacher.Check(ctx, &rec.Attachment)
}

// checkMounts returns why the staging mount or the mount at publishPath
// (if given) is missing, or nil.
func (s *Server) checkMounts(rec *stageRecord, publishPath string) error {
	errs := []error{s.checkPathMounted(rec, rec.mountPath())}
	if publishPath != "" && publishPath != rec.StagingPath {
		errs = append(errs, s.checkPathMounted(rec, publishPath))
	}
	return errors.Join(errs...)
}

// checkPathMounted returns an error if path, which should hold a mount of
// the volume, does not: the staging path of a filesystem volume and every
// target path.
func (s *Server) checkPathMounted(rec *stageRecord, path string) error {
	if rec.Block && path == rec.StagingPath {
		return nil
	}
	mounted, err := s.isMounted(path)
	if err != nil {
		return fmt.Errorf("checking the mount at %s: %w", path, err)
	}
	if !mounted {
		return fmt.Errorf("the volume is not mounted at %s", path)
	}
	return nil
}

// publishedElsewhere reports whether path is a mount of a volume taken
// over from ceph-csi: its publications were made before the takeover and
// are not recorded, but share the staging mount's source.
func (s *Server) publishedElsewhere(rec *stageRecord, path string) bool {
	if rec.Origin != originCephCSI {
		return false
	}
	refs, err := s.mounter.GetMountRefs(path)
	return err == nil && slices.Contains(refs, rec.MountPath)
}
