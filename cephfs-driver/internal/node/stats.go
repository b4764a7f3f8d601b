package node

import (
	"context"
	"errors"
	"io/fs"
	"strconv"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/host"
)

// Health reasons reported by NodeGetVolumeHealth.
const (
	reasonMountDead  = "MountTransportDisconnected"
	reasonNotMounted = "NotMounted"
)

// NodeGetVolumeStats reports bytes (the quota is the capacity: CephFS
// clients report it as the file system size) and inodes (the recursive
// entry count of the directory). A missing path, or one that holds no mount,
// is NotFound; a dead mount is FailedPrecondition with the reason, which
// NodeGetVolumeHealth also reports (CSI 1.13 moved the volume condition out
// of this RPC).
func (s *Server) NodeGetVolumeStats(_ context.Context, req *csi.NodeGetVolumeStatsRequest) (*csi.NodeGetVolumeStatsResponse, error) {
	switch {
	case req.GetVolumeId() == "":
		return nil, status.Error(codes.InvalidArgument, "volume_id: missing")
	case req.GetVolumePath() == "":
		return nil, status.Error(codes.InvalidArgument, "volume_path: missing")
	}
	path := req.GetVolumePath()
	if problem := pathProblem(path); problem != "" {
		return nil, status.Errorf(codes.InvalidArgument, "volume_path %s", problem)
	}
	if err := s.cfg.Host.Check(path); err != nil {
		return nil, pathError(req.GetVolumeId(), path, err)
	}
	if err := s.checkMounted(req.GetVolumeId(), path); err != nil {
		return nil, err
	}
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return nil, pathError(req.GetVolumeId(), path, err)
	}
	bsize := st.Bsize
	total, free, avail := int64(st.Blocks)*bsize, int64(st.Bfree)*bsize, int64(st.Bavail)*bsize
	usage := []*csi.VolumeUsage{{Unit: csi.VolumeUsage_BYTES, Total: total, Available: avail, Used: total - free}}
	if inodes := inodeUsage(path, &st); inodes != nil {
		usage = append(usage, inodes)
	}
	return &csi.NodeGetVolumeStatsResponse{Usage: usage}, nil
}

// checkMounted answers NotFound for a path that holds no mount: every
// staged or published volume is one, and the statistics of whatever file
// system an arbitrary directory lives on are not the volume's.
func (s *Server) checkMounted(volumeID, path string) error {
	mounts, err := s.cfg.Host.Mounts()
	if err != nil {
		return status.Errorf(codes.Internal, "volume %s: read the mount table: %v", volumeID, err)
	}
	if _, ok := host.Find(mounts, path); !ok {
		return status.Errorf(codes.NotFound, "volume %s: volume_path %s is not a mount of the volume", volumeID, path)
	}
	return nil
}

func pathError(volumeID, path string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return status.Errorf(codes.NotFound, "volume %s: volume_path %s does not exist", volumeID, path)
	case host.IsCorrupted(err):
		return status.Errorf(codes.FailedPrecondition, "volume %s: %s: %v", volumeID, reasonMountDead, err)
	}
	return status.Errorf(codes.Internal, "volume %s: %s: %v", volumeID, path, err)
}

// inodeUsage counts the directory's entries from CephFS's recursive
// statistics (ceph.dir.rentries), bounded by its file quota if any.
func inodeUsage(path string, st *unix.Statfs_t) *csi.VolumeUsage {
	used, ok := cephXattr(path, "ceph.dir.rentries")
	if !ok {
		if st.Files == 0 || st.Files < st.Ffree {
			return nil
		}
		return &csi.VolumeUsage{Unit: csi.VolumeUsage_INODES, Total: int64(st.Files),
			Available: int64(st.Ffree), Used: int64(st.Files - st.Ffree)}
	}
	u := &csi.VolumeUsage{Unit: csi.VolumeUsage_INODES, Used: used}
	if limit, ok := cephXattr(path, "ceph.quota.max_files"); ok && limit > 0 {
		u.Total, u.Available = limit, max(limit-used, 0)
	}
	return u
}

func cephXattr(path, name string) (int64, bool) {
	buf := make([]byte, 64)
	n, err := unix.Getxattr(path, name, buf)
	if err != nil || n <= 0 {
		return 0, false
	}
	v, err := strconv.ParseInt(strings.TrimSpace(strings.TrimRight(string(buf[:n]), "\x00")), 10, 64)
	return v, err == nil
}

// NodeGetVolumeHealth reports a dead or missing mount of the volume at the
// given paths, or at its staging path as recorded by NodeStageVolume.
// A volume neither staged here nor at an existing given path is NotFound.
func (s *Server) NodeGetVolumeHealth(_ context.Context, req *csi.NodeGetVolumeHealthRequest) (*csi.NodeGetVolumeHealthResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id: missing")
	}
	paths := nonEmpty(req.GetVolumePublishPath(), req.GetStagingTargetPath())
	if len(paths) == 0 {
		rec, err := s.records.load(req.GetVolumeId())
		if err != nil {
			return nil, status.Errorf(codes.NotFound, "volume %s is not staged on this node", req.GetVolumeId())
		}
		paths = []string{rec.StagingPath}
	}
	health := &csi.VolumeHealth{VolumeId: req.GetVolumeId()}
	for _, p := range paths {
		entry, err := s.pathHealth(req.GetVolumeId(), p)
		if err != nil {
			return nil, err
		}
		if entry != nil {
			health.HealthStatuses = append(health.HealthStatuses, entry)
		}
	}
	return &csi.NodeGetVolumeHealthResponse{VolumeHealth: health}, nil
}

func (s *Server) pathHealth(volumeID, path string) (*csi.VolumeHealth_VolumeHealthEntry, error) {
	state, _, err := s.inspect(path)
	switch {
	case err != nil && errors.Is(err, fs.ErrNotExist):
		return nil, status.Errorf(codes.NotFound, "volume %s: %s does not exist", volumeID, path)
	case err != nil:
		return nil, status.Errorf(codes.Internal, "volume %s: %s: %v", volumeID, path, err)
	case state == corrupted:
		return &csi.VolumeHealth_VolumeHealthEntry{Status: csi.VolumeHealthErrorType_INACCESSIBLE, Reason: reasonMountDead,
			Message: path + ": the CephFS client of this mount is gone (transport endpoint is not connected); NodeStageVolume or NodePublishVolume mounts it again"}, nil
	case state == notMounted:
		if err := s.cfg.Host.Check(path); errors.Is(err, fs.ErrNotExist) {
			return nil, status.Errorf(codes.NotFound, "volume %s: %s does not exist", volumeID, path)
		}
		return &csi.VolumeHealth_VolumeHealthEntry{Status: csi.VolumeHealthErrorType_INACCESSIBLE, Reason: reasonNotMounted,
			Message: path + " is not a mount point"}, nil
	}
	return nil, nil
}

func nonEmpty(list ...string) []string {
	var out []string
	for _, s := range list {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
