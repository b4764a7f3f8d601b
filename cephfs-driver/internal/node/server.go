// Package node implements the CSI Node service of the CephFS driver.
//
// NodeStageVolume mounts the volume's directory (the subvolume path, or a
// shallow volume's snapshot directory) at the staging path with the kernel
// client or ceph-fuse; NodePublishVolume bind-mounts the staging path at
// each target path, read-only when asked. Both notice a dead ceph-fuse
// mount ("transport endpoint is not connected") and mount again instead of
// failing; NodeGetVolumeHealth reports it. The node keeps no state in
// memory: mounts are found in the mount table, and a small record per
// staged volume (in Config.StateDir) maps volume IDs to staging paths for
// NodeGetVolumeHealth. ceph-fuse daemons run in sessions of their own, so
// mounts survive a restart of the plugin.
package node

import (
	"context"
	"errors"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/host"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/nodelookup"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/volctx"
	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/csicaps"
	"github.com/seed-6a310834/ceph-csi/shared/oplock"
)

// Clusters resolves cluster IDs (*clusterconfig.Store implements it).
type Clusters interface {
	Get(clusterID string) (*clusterconfig.Cluster, error)
}

// Config configures a Server.
type Config struct {
	// NodeID is reported by NodeGetInfo. Required.
	NodeID string
	// Clusters resolves the volume's cluster. Required.
	Clusters Clusters
	// Mounters by name (volctx.MounterKernel, volctx.MounterFuse).
	Mounters map[string]host.Mounter
	// DefaultMounter is used when the volume context names none; default
	// volctx.MounterKernel.
	DefaultMounter string
	// Host is the mount table and mount calls; default host.System{}.
	Host host.Host
	// StateDir holds the stage records. Required.
	StateDir string
	// ProcRoot is where ceph-fuse daemons are looked for; default /proc.
	ProcRoot string
	// NodeLabels are this node's labels and CrushLocationLabels the labels
	// that give its CRUSH location when config.json's readAffinity is
	// enabled without crushLocationLabels of its own (kernel mounts get
	// read_from_replica=localize,crush_location=...).
	NodeLabels          map[string]string
	CrushLocationLabels []string
	// HealSecrets returns the node-stage Secret (--node-secrets-dir) with
	// which NodePublishVolume mounts a dead staging mount again when the
	// request carries no secrets; nil: such a publish fails.
	HealSecrets func() (map[string]string, error)
	// Lookup finds on the cluster what old or ceph-csi volume contexts
	// leave out (package nodelookup); nil: such volumes fail NodeStage.
	Lookup Lookup
}

// Lookup is what the node asks the cluster (implemented by
// nodelookup.Lookup).
type Lookup interface {
	// SubvolumePath returns the path of a subvolume.
	SubvolumePath(ctx context.Context, cluster *clusterconfig.Cluster, creds *credentials.Credentials,
		fsName, group, name string) (string, error)
	// BackingSnapshot locates the snapshot of a shallow volume.
	BackingSnapshot(ctx context.Context, cluster *clusterconfig.Cluster, creds *credentials.Credentials,
		volumeID string) (*nodelookup.Backing, error)
}

// Server implements csi.NodeServer.
type Server struct {
	csi.UnimplementedNodeServer

	cfg     Config
	locks   *oplock.Locks
	records *records
}

var _ csi.NodeServer = (*Server)(nil)

// New returns a Server.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.NodeID == "":
		return nil, errors.New("node: a node ID is required")
	case cfg.Clusters == nil:
		return nil, errors.New("node: a cluster configuration is required")
	case cfg.StateDir == "":
		return nil, errors.New("node: a state directory is required")
	case len(cfg.Mounters) == 0:
		return nil, errors.New("node: no mounters")
	}
	if cfg.DefaultMounter == "" {
		cfg.DefaultMounter = volctx.MounterKernel
	}
	if cfg.Host == nil {
		cfg.Host = host.System{}
	}
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = "/proc"
	}
	return &Server{cfg: cfg, locks: oplock.New(), records: &records{dir: cfg.StateDir}}, nil
}

// NodeGetInfo returns the node ID; volumes have no topology and no limit.
func (s *Server) NodeGetInfo(context.Context, *csi.NodeGetInfoRequest) (*csi.NodeGetInfoResponse, error) {
	return &csi.NodeGetInfoResponse{NodeId: s.cfg.NodeID}, nil
}

// NodeGetCapabilities advertises exactly what works: staging, stats,
// volume health and the single-node access modes. Expansion needs nothing
// on the node (the quota is raised by the controller).
func (s *Server) NodeGetCapabilities(context.Context, *csi.NodeGetCapabilitiesRequest) (*csi.NodeGetCapabilitiesResponse, error) {
	types := []csi.NodeServiceCapability_RPC_Type{
		csi.NodeServiceCapability_RPC_STAGE_UNSTAGE_VOLUME,
		csi.NodeServiceCapability_RPC_GET_VOLUME_STATS,
		csi.NodeServiceCapability_RPC_GET_VOLUME_HEALTH,
		csi.NodeServiceCapability_RPC_SINGLE_NODE_MULTI_WRITER,
	}
	return csicaps.Node(types...), nil
}
