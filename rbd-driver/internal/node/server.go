// Package node implements the CSI Node service of the RBD driver: it
// attaches an image as a block device (package host), formats it if
// needed and mounts it at the staging path, bind-mounts it into the
// workloads' target paths, grows it and reports its usage and health.
//
// What NodeStageVolume did is kept in a stage record (a small JSON file per
// volume under Config.StateDir), so that NodeUnstageVolume,
// NodeExpandVolume and NodeGetVolumeStats work after the plugin restarts,
// and the rbd-fuse helpers, which outlive the plugin, are found again.
package node

import (
	"context"
	"errors"
	"io"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/mount-utils"

	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
	"github.com/seed-6a310834/ceph-csi/shared/csicaps"
	"github.com/seed-6a310834/ceph-csi/shared/execx"
	"github.com/seed-6a310834/ceph-csi/shared/oplock"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/host"
)

// Config holds what New needs.
type Config struct {
	// NodeID is returned by NodeGetInfo. Required.
	NodeID string
	// MaxVolumesPerNode is returned by NodeGetInfo; 0 means no limit.
	MaxVolumesPerNode int64
	// Topology is the node's accessible topology (segment key -> value).
	Topology map[string]string
	// StateDir holds the stage records and the rbd-fuse mountpoints. It
	// must survive plugin restarts (a host path). Required.
	StateDir string
	// ClusterConfig finds the monitors of a volume's cluster. Required.
	ClusterConfig *clusterconfig.Store
	// Executor runs the external commands; default execx.OS{}.
	Executor execx.Executor
	// Mounter mounts and unmounts; default mount.New("").
	Mounter mount.Interface
	// Attachers attach images; default host.New over Executor and
	// Mounter.
	Attachers host.Attachers
	// DeviceSize returns the size of a block device; default: seek to its
	// end.
	DeviceSize func(path string) (int64, error)
	// System lists the rbd-fuse helpers when looking for an image's
	// mappings on this host; default host.Host{}.
	System host.System
	// HolderWait is how long NodeStageVolume waits for another client to
	// release a single-node volume before failing (default 10s);
	// HolderPoll how often it checks meanwhile (default 1s).
	HolderWait time.Duration
	HolderPoll time.Duration
	// NodeLabels are this node's labels and CrushLocationLabels the labels
	// that give its CRUSH location when config.json's readAffinity is
	// enabled without crushLocationLabels of its own.
	NodeLabels          map[string]string
	CrushLocationLabels []string
	// HealSecrets returns the credentials (userID, userKey) Heal uses to
	// re-attach rbd-nbd devices; nil disables healing at start.
	HealSecrets func() (map[string]string, error)
}

// Server is the CSI Node service.
type Server struct {
	csi.UnimplementedNodeServer

	nodeID      string
	maxVolumes  int64
	topology    map[string]string
	clusters    *clusterconfig.Store
	exec        execx.Executor
	mounter     mount.Interface
	attachers   host.Attachers
	deviceSize  func(string) (int64, error)
	records     recordStore
	locks       *oplock.Locks
	mappings    func(ctx context.Context, pool, namespace, image string) ([]host.Mapping, error)
	holders     func(ctx context.Context, r *host.Request) ([]host.Holder, error)
	holderWait  time.Duration
	holderPoll  time.Duration
	nodeLabels  map[string]string
	crushLabels []string
	healSecrets func() (map[string]string, error)
}

var _ csi.NodeServer = (*Server)(nil)

// New validates cfg, fills in its defaults and returns the Server.
func New(cfg Config) (*Server, error) {
	if err := validateConfig(cfg); err != nil {
		return nil, err
	}
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	return &Server{
		nodeID: cfg.NodeID, maxVolumes: cfg.MaxVolumesPerNode, topology: maps.Clone(cfg.Topology),
		clusters: cfg.ClusterConfig, exec: cfg.Executor, mounter: cfg.Mounter, attachers: cfg.Attachers,
		deviceSize: cfg.DeviceSize, records: recordStore{dir: cfg.StateDir}, locks: oplock.New(),
		mappings: host.Finder{Executor: cfg.Executor, System: cfg.System}.Find,
		holders: func(ctx context.Context, r *host.Request) ([]host.Holder, error) {
			return host.Holders(ctx, cfg.Executor, r)
		},
		holderWait: cfg.HolderWait, holderPoll: cfg.HolderPoll,
		nodeLabels: maps.Clone(cfg.NodeLabels), crushLabels: slices.Clone(cfg.CrushLocationLabels), healSecrets: cfg.HealSecrets,
	}, nil
}

func validateConfig(cfg Config) error {
	switch {
	case cfg.NodeID == "":
		return errors.New("node: a node ID is required")
	case cfg.StateDir == "":
		return errors.New("node: a state directory is required")
	case cfg.ClusterConfig == nil:
		return errors.New("node: a cluster configuration is required")
	case cfg.MaxVolumesPerNode < 0:
		return errors.New("node: the maximum number of volumes must not be negative")
	}
	return nil
}

func withDefaults(cfg Config) (Config, error) {
	if cfg.Executor == nil {
		cfg.Executor = execx.OS{}
	}
	if cfg.Mounter == nil {
		cfg.Mounter = mount.New("")
	}
	if cfg.DeviceSize == nil {
		cfg.DeviceSize = seekSize
	}
	if cfg.HolderWait <= 0 {
		cfg.HolderWait = 10 * time.Second
	}
	if cfg.HolderPoll <= 0 {
		cfg.HolderPoll = time.Second
	}
	if cfg.Attachers == nil {
		as, err := host.New(host.Config{Executor: cfg.Executor, Mounter: cfg.Mounter})
		if err != nil {
			return cfg, err
		}
		cfg.Attachers = as
	}
	return cfg, nil
}

// seekSize returns the size of a block device (or file) by seeking to its
// end, which needs no ioctl.
func seekSize(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return f.Seek(0, io.SeekEnd)
}

// NodeGetInfo returns the node ID, the volume limit and the topology.
func (s *Server) NodeGetInfo(context.Context, *csi.NodeGetInfoRequest) (*csi.NodeGetInfoResponse, error) {
	resp := &csi.NodeGetInfoResponse{NodeId: s.nodeID, MaxVolumesPerNode: s.maxVolumes}
	if len(s.topology) > 0 {
		resp.AccessibleTopology = &csi.Topology{Segments: maps.Clone(s.topology)}
	}
	return resp, nil
}

// nodeCapabilities are the Node service's capabilities.
var nodeCapabilities = []csi.NodeServiceCapability_RPC_Type{
	csi.NodeServiceCapability_RPC_STAGE_UNSTAGE_VOLUME,
	csi.NodeServiceCapability_RPC_EXPAND_VOLUME,
	csi.NodeServiceCapability_RPC_GET_VOLUME_STATS,
	csi.NodeServiceCapability_RPC_GET_VOLUME_HEALTH,
	csi.NodeServiceCapability_RPC_SINGLE_NODE_MULTI_WRITER,
}

// NodeGetCapabilities returns the Node service's capabilities.
func (s *Server) NodeGetCapabilities(context.Context, *csi.NodeGetCapabilitiesRequest) (*csi.NodeGetCapabilitiesResponse, error) {
	return csicaps.Node(nodeCapabilities...), nil
}

// lockVolume takes the per-volume operation lock, or fails with Aborted.
func (s *Server) lockVolume(volumeID string) (func(), error) {
	return s.locks.Acquire(oplock.Key{Kind: oplock.KindVolumeID, ID: volumeID})
}
