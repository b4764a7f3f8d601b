// Package controller implements the CSI Controller service of the CephFS
// driver: subvolumes as volumes, subvolume snapshots as snapshots, clones,
// shallow read-only volumes on snapshots, expansion and capacity.
//
// Every RPC validates its request, takes per-name or per-ID locks
// (shared/oplock, contention is Aborted), resolves the cluster from the
// cluster configuration and the file system from the volume ID's location
// field, and keeps its idempotency state in the ceph-csi compatible omap
// journal (shared/journal) in the file system's metadata pool. Errors are
// mapped to gRPC codes in one place, errors.go.
package controller

import (
	"context"
	"errors"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/csicaps"
	"github.com/seed-6a310834/ceph-csi/shared/oplock"
)

// Defaults of Config.
const (
	DefaultCloneWait    = 2 * time.Minute
	DefaultClonePoll    = 250 * time.Millisecond
	DefaultMaxClonePoll = 2 * time.Second
)

// Clusters is where the controller finds cluster settings
// (*clusterconfig.Store implements it).
type Clusters interface {
	// Get returns a cluster; errors wrap clusterconfig.ErrClusterNotFound
	// or clusterconfig.ErrConfig.
	Get(clusterID string) (*clusterconfig.Cluster, error)
	// Clusters returns every cluster.
	Clusters() ([]*clusterconfig.Cluster, error)
}

// Config configures a Server.
type Config struct {
	// Connector opens cluster sessions. Required.
	Connector backend.Connector
	// Clusters resolves cluster IDs. Required.
	Clusters Clusters
	// InstanceID names the journal instance (cliflags --instance-id).
	InstanceID string
	// CloneWait bounds how long one CreateVolume waits for a clone when
	// the request's own deadline is later (default DefaultCloneWait). A
	// request that gives up leaves the clone running; a retry resumes it.
	CloneWait time.Duration
	// ClonePoll is the first interval between clone status checks; it
	// grows to MaxClonePoll.
	ClonePoll    time.Duration
	MaxClonePoll time.Duration
	// CapacityCredentials returns the credentials GetCapacity uses (the
	// CSI GetCapacity request carries no secrets). Nil disables
	// GetCapacity and its capability.
	CapacityCredentials func() (*credentials.Credentials, error)
	// Quiescer pauses I/O on the members of a volume group snapshot;
	// default BestEffort (Ceph Pacific has no `fs quiesce`).
	Quiescer Quiescer
}

// Server implements csi.ControllerServer.
type Server struct {
	csi.UnimplementedControllerServer
	csi.UnimplementedGroupControllerServer

	cfg   Config
	locks *oplock.Locks
	fs    *fsCache
	now   func() time.Time
}

var (
	_ csi.ControllerServer      = (*Server)(nil)
	_ csi.GroupControllerServer = (*Server)(nil)
)

// New returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Connector == nil || cfg.Clusters == nil {
		return nil, errors.New("controller: a connector and a cluster configuration are required")
	}
	if cfg.InstanceID == "" {
		cfg.InstanceID = "default"
	}
	if cfg.Quiescer == nil {
		cfg.Quiescer = BestEffort{}
	}
	if cfg.CloneWait <= 0 {
		cfg.CloneWait = DefaultCloneWait
	}
	if cfg.ClonePoll <= 0 {
		cfg.ClonePoll = DefaultClonePoll
	}
	if cfg.MaxClonePoll < cfg.ClonePoll {
		cfg.MaxClonePoll = max(DefaultMaxClonePoll, cfg.ClonePoll)
	}
	return &Server{cfg: cfg, locks: oplock.New(), fs: newFSCache(), now: time.Now}, nil
}

// ControllerGetCapabilities advertises exactly the RPCs that work.
func (s *Server) ControllerGetCapabilities(context.Context, *csi.ControllerGetCapabilitiesRequest) (*csi.ControllerGetCapabilitiesResponse, error) {
	types := []csi.ControllerServiceCapability_RPC_Type{
		csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME,
		csi.ControllerServiceCapability_RPC_CREATE_DELETE_SNAPSHOT,
		csi.ControllerServiceCapability_RPC_LIST_SNAPSHOTS,
		csi.ControllerServiceCapability_RPC_GET_SNAPSHOT,
		csi.ControllerServiceCapability_RPC_CLONE_VOLUME,
		csi.ControllerServiceCapability_RPC_EXPAND_VOLUME,
		csi.ControllerServiceCapability_RPC_SINGLE_NODE_MULTI_WRITER,
		csi.ControllerServiceCapability_RPC_GET_VOLUME_HEALTH,
	}
	// These RPCs carry no secrets (GetCapacity, ListVolumes,
	// ControllerGetVolume) or are called without them by the health
	// monitor (ControllerListVolumeHealth): they need the driver's own.
	if s.cfg.CapacityCredentials != nil {
		types = append(types, csi.ControllerServiceCapability_RPC_GET_CAPACITY,
			csi.ControllerServiceCapability_RPC_LIST_VOLUMES, csi.ControllerServiceCapability_RPC_GET_VOLUME,
			csi.ControllerServiceCapability_RPC_LIST_VOLUME_HEALTH)
	}
	return csicaps.Controller(types...), nil
}
