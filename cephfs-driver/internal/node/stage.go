package node

import (
	"context"
	"errors"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/host"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/volctx"
	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/logging"
	"github.com/seed-6a310834/ceph-csi/shared/oplock"
)

// fuseStopGrace is how long a ceph-fuse daemon gets to exit by itself
// after its mount is gone (it takes about 3 s), and then after SIGTERM.
const fuseStopGrace = 10 * time.Second

// NodeStageVolume mounts the volume at the staging path. An existing
// healthy mount is success; a dead one is unmounted and mounted again.
func (s *Server) NodeStageVolume(ctx context.Context, req *csi.NodeStageVolumeRequest) (*csi.NodeStageVolumeResponse, error) {
	switch {
	case req.GetVolumeId() == "":
		return nil, status.Error(codes.InvalidArgument, "volume_id: missing")
	case req.GetStagingTargetPath() == "":
		return nil, status.Error(codes.InvalidArgument, "staging_target_path: missing")
	}
	if err := checkPath("staging_target_path", req.GetStagingTargetPath()); err != nil {
		return nil, err
	}
	if err := checkCapability(req.GetVolumeCapability()); err != nil {
		return nil, err
	}
	vol, err := s.parseVolume(req.GetVolumeId(), req.GetVolumeContext(), req.GetVolumeCapability())
	if err != nil {
		return nil, err
	}
	if on, _ := strconv.ParseBool(req.GetVolumeContext()[volctx.Encrypted]); on {
		return nil, status.Errorf(codes.InvalidArgument, "volume_context[%q] = %q: encrypted volumes (ceph-csi's fscrypt) "+
			"are not supported yet; stage this volume with ceph-csi", volctx.Encrypted, req.GetVolumeContext()[volctx.Encrypted])
	}
	creds, err := nodeCredentials(req.GetSecrets(), vol.static)
	if err != nil {
		return nil, err
	}
	release, err := s.locks.Acquire(oplock.Key{Kind: oplock.KindVolumeID, ID: req.GetVolumeId()})
	if err != nil {
		return nil, err
	}
	defer release()
	staging := filepath.Clean(req.GetStagingTargetPath())
	if err := s.stage(ctx, req.GetVolumeId(), staging, vol, creds); err != nil {
		return nil, err
	}
	return &csi.NodeStageVolumeResponse{}, nil
}

// stage makes sure staging holds a healthy mount of vol.
func (s *Server) stage(ctx context.Context, volumeID, staging string, vol *volume, creds *credentials.Credentials) error {
	log := logging.FromContext(ctx).With(zap.String("staging_path", staging))
	cluster, err := s.cfg.Clusters.Get(vol.clusterID)
	if err != nil {
		return clusterError(err)
	}
	if err := s.resolve(ctx, volumeID, vol, cluster, creds); err != nil {
		return err
	}
	state, mp, err := s.inspect(staging)
	if err != nil {
		return status.Errorf(codes.Internal, "inspect %s: %v", staging, err)
	}
	switch state {
	case healthy:
		if err := s.checkStagedHere(volumeID, staging); err != nil {
			return err
		}
		if err := checkMountSource(mp, vol); err != nil {
			return err
		}
		log.Debug("already staged")
		return s.saveRecord(volumeID, staging, vol)
	case corrupted:
		log.Warn("staging mount is dead (ceph-fuse gone?): mounting it again")
		if err := s.unstage(ctx, staging); err != nil {
			return status.Errorf(codes.Internal, "remove the dead mount at %s: %v", staging, err)
		}
	}
	if err := os.MkdirAll(staging, 0o750); err != nil {
		return status.Errorf(codes.Internal, "create %s: %v", staging, err)
	}
	if err := s.mount(ctx, staging, vol, cluster, creds); err != nil {
		return err
	}
	log.Info("staged", zap.String("mounter", vol.mounter), zap.String("path", vol.path))
	return s.saveRecord(volumeID, staging, vol)
}

// checkStagedHere refuses a staging path that holds another volume's
// mount, so that one volume's pods never see another's data.
func (s *Server) checkStagedHere(volumeID, staging string) error {
	rec, err := s.records.atStaging(staging)
	if err != nil {
		return status.Errorf(codes.Internal, "read stage records: %v", err)
	}
	if rec != nil && rec.VolumeID != volumeID {
		return status.Errorf(codes.AlreadyExists,
			"staging_target_path: %s already holds volume %q", staging, rec.VolumeID)
	}
	return nil
}

func clusterError(err error) error {
	if errors.Is(err, clusterconfig.ErrClusterNotFound) {
		return status.Errorf(codes.InvalidArgument, "volume_context clusterID: %v", err)
	}
	return status.Errorf(codes.Unavailable, "cluster configuration: %v", err)
}

// mount mounts vol at staging and, for a shallow volume, binds the
// snapshot directory over it; on failure nothing stays mounted.
func (s *Server) mount(ctx context.Context, staging string, vol *volume, cluster *clusterconfig.Cluster, creds *credentials.Credentials) error {
	m := s.cfg.Mounters[vol.mounter]
	err := m.Mount(ctx, host.Request{Target: staging, Monitors: cluster.Monitors, FSName: vol.fsName,
		Path: vol.path, Creds: creds, Options: s.mountOptions(vol, cluster),
		NetNamespace: cluster.CephFSNode.NetNamespaceFilePath})
	if err != nil {
		return status.Errorf(codes.Internal, "%s mount of %s:%s at %s: %v", vol.mounter, vol.fsName, vol.path, staging, err)
	}
	if vol.backingDir != "" {
		err = s.cfg.Host.Bind(filepath.Join(staging, vol.backingDir), staging, true)
	}
	if err == nil {
		err = s.cfg.Host.Check(staging)
	}
	if err != nil {
		_ = s.unstage(ctx, staging)
		return status.Errorf(codes.Internal, "mount at %s is not usable: %v", staging, err)
	}
	return nil
}

func (s *Server) saveRecord(volumeID, staging string, vol *volume) error {
	err := s.records.save(&stageRecord{VolumeID: volumeID, StagingPath: staging, ClusterID: vol.clusterID,
		FSName: vol.fsName, Path: vol.path, Mounter: vol.mounter})
	if err != nil {
		return status.Errorf(codes.Internal, "save stage record: %v", err)
	}
	return nil
}

// NodeUnstageVolume unmounts the staging path and stops its ceph-fuse
// daemon. Idempotent.
func (s *Server) NodeUnstageVolume(ctx context.Context, req *csi.NodeUnstageVolumeRequest) (*csi.NodeUnstageVolumeResponse, error) {
	switch {
	case req.GetVolumeId() == "":
		return nil, status.Error(codes.InvalidArgument, "volume_id: missing")
	case req.GetStagingTargetPath() == "":
		return nil, status.Error(codes.InvalidArgument, "staging_target_path: missing")
	}
	if err := checkPath("staging_target_path", req.GetStagingTargetPath()); err != nil {
		return nil, err
	}
	release, err := s.locks.Acquire(oplock.Key{Kind: oplock.KindVolumeID, ID: req.GetVolumeId()})
	if err != nil {
		return nil, err
	}
	defer release()
	staging := filepath.Clean(req.GetStagingTargetPath())
	if err := s.unstage(ctx, staging); err != nil {
		return nil, status.Errorf(codes.Internal, "unmount %s: %v", staging, err)
	}
	if err := s.records.remove(req.GetVolumeId()); err != nil {
		return nil, status.Errorf(codes.Internal, "remove stage record: %v", err)
	}
	logging.FromContext(ctx).Info("unstaged", zap.String("staging_path", staging))
	return &csi.NodeUnstageVolumeResponse{}, nil
}

// unstage unmounts everything at staging and ends its ceph-fuse daemon.
func (s *Server) unstage(ctx context.Context, staging string) error {
	if err := s.unmountAll(staging); err != nil {
		return err
	}
	if n := host.StopFuse(s.cfg.ProcRoot, staging, fuseStopGrace); n > 0 {
		logging.FromContext(ctx).Warn("ceph-fuse daemons did not exit after the unmount and were killed",
			zap.String("staging_path", staging), zap.Int("daemons", n))
	}
	return nil
}

// checkMountSource refuses a staging path whose mount shows another
// directory than the volume's: a kernel mount's source ("MONS:/PATH", as
// this plugin and ceph-csi make it) names it. A ceph-fuse mount's source
// does not, and is taken as it is (a staging path belongs to one volume).
func checkMountSource(mp host.MountPoint, vol *volume) error {
	i := strings.Index(mp.Source, ":/")
	if mp.FSType != "ceph" || i < 0 {
		return nil
	}
	if got := path.Clean(mp.Source[i+1:]); got != path.Clean(vol.path) {
		return status.Errorf(codes.FailedPrecondition, "staging_target_path %s already holds a mount of %s, not of the volume's %s; "+
			"not mounting over it", mp.Path, got, vol.path)
	}
	return nil
}
