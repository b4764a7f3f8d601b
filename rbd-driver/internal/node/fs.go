package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/mount-utils"

	"github.com/seed-6a310834/ceph-csi/shared/execx"
	"github.com/seed-6a310834/ceph-csi/shared/logging"
)

// cleanupTimeout bounds a rollback, which runs even after the request's
// context ended.
const cleanupTimeout = 2 * time.Minute

// growThreshold is how much larger than its ext filesystem a device must
// be for NodeStageVolume to grow the filesystem.
const growThreshold = 1 << 20

// defaultMkfsOptions are used when the volume context has no mkfsOptions:
// no discard (slow, and useless on a fresh thin image) and, for ext4, lazy
// initialisation, as ceph-csi does. SafeFormatAndMount adds -F -m0 (ext4)
// or -f (xfs).
var defaultMkfsOptions = map[string][]string{
	fsExt3: {"-E", "nodiscard,lazy_itable_init=1,lazy_journal_init=1"},
	fsExt4: {"-E", "nodiscard,lazy_itable_init=1,lazy_journal_init=1"},
	fsXFS:  {"-K"},
}

// formatter returns mount-utils' format-and-mount helper, running its
// commands (blkid, fsck, mkfs, resize2fs, xfs_growfs) through the executor
// under ctx.
func (s *Server) formatter(ctx context.Context) *mount.SafeFormatAndMount {
	return mount.NewSafeFormatAndMount(s.mounter, execx.K8s(ctx, s.exec))
}

// mountStaging formats the device if it has no filesystem, grows an ext3/4
// filesystem smaller than the device (offline, before mounting: online
// growth of ext4 needs CAP_SYS_RESOURCE) and mounts it at the staging path.
// An xfs filesystem is grown after mounting. The caller has checked that
// nothing is mounted at the staging path.
func (s *Server) mountStaging(ctx context.Context, rec *stageRecord, p *stageParams) error {
	sfm := s.formatter(ctx)
	dev := rec.Attachment.Device
	if err := s.growExtOffline(ctx, sfm, rec); err != nil {
		return status.Errorf(codes.Internal, "growing the filesystem on %s: %v", dev, err)
	}
	mkfs := p.mkfsOptions
	if len(mkfs) == 0 {
		mkfs = defaultMkfsOptions[rec.FsType]
	}
	err := sfm.FormatAndMountSensitiveWithFormatOptions(dev, rec.StagingPath, rec.FsType,
		stagingMountOptions(rec, p.cap.mountFlags), nil, mkfs)
	if err != nil {
		return mountError(dev, rec.StagingPath, err)
	}
	if rec.FsType == fsXFS && !rec.ReadOnly {
		if _, err := mount.NewResizeFs(sfm.Exec).Resize(dev, rec.StagingPath); err != nil {
			return status.Errorf(codes.Internal, "growing the filesystem on %s: %v", dev, err)
		}
	}
	return nil
}

// stagingMountOptions returns the mount options of the staging mount:
// the capability's flags, "ro" for read-only access modes, and "nouuid" for
// xfs, so that a volume restored from a snapshot (same filesystem UUID)
// can be mounted next to its source.
func stagingMountOptions(rec *stageRecord, flags []string) []string {
	opts := slices.Clone(flags)
	if rec.ReadOnly && !slices.Contains(opts, "ro") {
		opts = append(opts, "ro")
	}
	if rec.FsType == fsXFS && !slices.Contains(opts, "nouuid") {
		opts = append(opts, "nouuid")
	}
	return opts
}

// mountError maps a SafeFormatAndMount error to a gRPC status.
func mountError(dev, path string, err error) error {
	var me mount.MountError
	if errors.As(err, &me) && me.Type == mount.UnformattedReadOnly {
		return status.Errorf(codes.FailedPrecondition, "volume on %s has no filesystem and is to be mounted read-only", dev)
	}
	return status.Errorf(codes.Internal, "mounting %s at %s: %v", dev, path, err)
}

// growExtOffline grows an unmounted ext3/ext4 filesystem that is smaller
// than its device, e.g. after the volume was expanded while not staged.
func (s *Server) growExtOffline(ctx context.Context, sfm *mount.SafeFormatAndMount, rec *stageRecord) error {
	if !isExt(rec.FsType) || rec.ReadOnly {
		return nil
	}
	dev := rec.Attachment.Device
	if format, err := sfm.GetDiskFormat(dev); err != nil || format != rec.FsType {
		return nil // unformatted or foreign: left to FormatAndMount
	}
	fsBytes, err := s.extSize(ctx, dev)
	if err != nil {
		return err
	}
	devBytes, err := s.deviceSize(dev)
	if err != nil {
		return err
	}
	if devBytes-fsBytes < growThreshold {
		return nil
	}
	logging.FromContext(ctx).Info("growing the filesystem before mounting", zap.String("fsType", rec.FsType), zap.String("device", dev),
		zap.Int64("filesystemBytes", fsBytes), zap.Int64("deviceBytes", devBytes))
	if _, err := s.exec.Run(ctx, "e2fsck", "-f", "-p", dev); err != nil && execx.ExitCode(err) != 1 {
		return err
	}
	_, err = s.exec.Run(ctx, "resize2fs", dev)
	return err
}

// extSize returns the size of the ext filesystem on dev from dumpe2fs.
func (s *Server) extSize(ctx context.Context, dev string) (int64, error) {
	out, err := s.exec.Run(ctx, "dumpe2fs", "-h", dev)
	if err != nil {
		return 0, err
	}
	var count, size int64
	for _, line := range strings.Split(string(out), "\n") {
		key, value, _ := strings.Cut(line, ":")
		switch key {
		case "Block count":
			count, _ = strconv.ParseInt(strings.TrimSpace(value), 10, 64)
		case "Block size":
			size, _ = strconv.ParseInt(strings.TrimSpace(value), 10, 64)
		}
	}
	if count <= 0 || size <= 0 {
		return 0, fmt.Errorf("no block count and size in the output of dumpe2fs -h %s", dev)
	}
	return count * size, nil
}

// isMounted reports whether path is a mount point; a broken mount (e.g.
// "transport endpoint is not connected") counts as mounted, a missing path
// as not mounted.
func (s *Server) isMounted(path string) (bool, error) {
	mounted, err := s.mounter.IsMountPoint(path)
	switch {
	case err == nil:
		return mounted, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case mount.IsCorruptedMnt(err):
		return true, nil
	}
	return false, err
}

// unmountDevice unmounts path if dev is mounted there, leaving the
// directory; another filesystem mounted there is left alone.
func (s *Server) unmountDevice(ctx context.Context, path, dev string) error {
	mps, err := s.mounter.List()
	if err != nil {
		return fmt.Errorf("listing mounts: %w", err)
	}
	if resolved, err := filepath.EvalSymlinks(path); err == nil {
		path = resolved
	}
	for _, mp := range mps {
		if mp.Path == path && mp.Device == dev {
			if err := s.mounter.Unmount(path); err != nil {
				return fmt.Errorf("unmounting %s: %w", path, err)
			}
			logging.FromContext(ctx).Info("unmounted", zap.String("path", path), zap.String("device", dev))
			return nil
		}
	}
	return nil
}
