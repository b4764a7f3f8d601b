package node

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/mount-utils"

	"github.com/seed-6a310834/ceph-csi/shared/logging"
)

// NodeExpandVolume makes the device show the image's new size and grows
// the filesystem online (resize2fs for ext4, xfs_growfs for xfs). A block
// volume only gets its device refreshed.
func (s *Server) NodeExpandVolume(ctx context.Context, req *csi.NodeExpandVolumeRequest) (*csi.NodeExpandVolumeResponse, error) {
	if err := firstError(required("volume_id", req.GetVolumeId()),
		required("volume_path", req.GetVolumePath())); err != nil {
		return nil, err
	}
	if err := checkExpandRequest(req); err != nil {
		return nil, err
	}
	release, err := s.lockVolume(req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	defer release()
	rec, err := s.stagedRecord(ctx, req.GetVolumeId(), s.stagingPathsOf(req.GetStagingTargetPath(), req.GetVolumePath())...)
	if err == nil {
		err = checkPathExists(req.GetVolumePath())
	}
	if err != nil {
		return nil, err
	}
	size, err := s.expand(ctx, rec, req.GetCapacityRange().GetRequiredBytes())
	if err != nil {
		return nil, err
	}
	logging.FromContext(ctx).Info("volume expanded", zap.String("volumeID", rec.VolumeID), zap.Int64("bytes", size))
	return &csi.NodeExpandVolumeResponse{CapacityBytes: size}, nil
}

// checkExpandRequest validates the optional capability and capacity range.
func checkExpandRequest(req *csi.NodeExpandVolumeRequest) error {
	if req.GetVolumeCapability() != nil {
		if _, err := checkCapability(req.GetVolumeCapability()); err != nil {
			return err
		}
	}
	r := req.GetCapacityRange()
	if r.GetRequiredBytes() < 0 || r.GetLimitBytes() < 0 ||
		(r.GetLimitBytes() > 0 && r.GetRequiredBytes() > r.GetLimitBytes()) {
		return status.Errorf(codes.OutOfRange, "capacity_range: required_bytes %d, limit_bytes %d",
			r.GetRequiredBytes(), r.GetLimitBytes())
	}
	return nil
}

// stagedRecord returns the record of a volume staged on this node, or
// NotFound.
func (s *Server) stagedRecord(ctx context.Context, volumeID string, stagingPaths ...string) (*stageRecord, error) {
	rec, err := s.loadRecord(ctx, volumeID, stagingPaths...)
	switch {
	case err != nil:
		return nil, err
	case rec == nil || !rec.Complete:
		return nil, status.Errorf(codes.NotFound, "volume %q is not staged on this node", volumeID)
	}
	return rec, nil
}

// checkPathExists returns NotFound if path does not exist.
func checkPathExists(path string) error {
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return status.Errorf(codes.NotFound, "volume path %s does not exist", path)
	}
	return nil
}

// expand refreshes the device and grows the filesystem; it returns the new
// size of the device.
func (s *Server) expand(ctx context.Context, rec *stageRecord, minBytes int64) (int64, error) {
	attacher, err := s.attachers.Get(rec.Attachment.Mounter)
	if err != nil {
		return 0, internalErr(err)
	}
	dev := rec.Attachment.Device
	if err := attacher.Resize(ctx, &rec.Attachment, minBytes); err != nil {
		return 0, status.Errorf(codes.Internal, "refreshing the size of %s: %v", dev, err)
	}
	if !rec.Block && !rec.ReadOnly {
		if _, err := mount.NewResizeFs(s.formatter(ctx).Exec).Resize(dev, rec.mountPath()); err != nil {
			return 0, resizeError(dev, err)
		}
	}
	size, err := s.deviceSize(dev)
	if err != nil {
		return 0, status.Errorf(codes.Internal, "reading the size of %s: %v", dev, err)
	}
	return size, nil
}

// resizeError maps a filesystem resize failure to a gRPC status. The kernel
// refuses online ext4 growth without CAP_SYS_RESOURCE: that is the
// "filesystem does not support expansion while staged" case of the CSI
// specification, which an unstage and stage (offline growth) resolves.
func resizeError(dev string, err error) error {
	if strings.Contains(err.Error(), "Permission denied to resize filesystem") {
		return status.Errorf(codes.FailedPrecondition,
			"the kernel refused to grow the mounted filesystem on %s (online ext4 growth needs CAP_SYS_RESOURCE); "+
				"unstage and stage the volume to grow it offline: %v", dev, err)
	}
	return status.Errorf(codes.Internal, "growing the filesystem on %s: %v", dev, err)
}
