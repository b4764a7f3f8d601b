// Package controller implements the CSI Controller service of the RBD
// driver: request validation, per-name and per-ID operation locks, the
// omap journal that makes CreateVolume and CreateSnapshot idempotent, and
// the orchestration of backend.Backend calls. It never imports go-ceph:
// the backend is injected, so unit tests run against backend/fake and the
// in-memory journal store.
package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"go.uber.org/zap"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
	"github.com/seed-6a310834/ceph-csi/shared/csicaps"
	"github.com/seed-6a310834/ceph-csi/shared/oplock"
)

// Defaults of the clone depth limits.
const (
	DefaultCloneSoftDepth = 4
	DefaultCloneHardDepth = 8
)

// Clusters looks cluster configurations up by ID and lists them;
// *clusterconfig.Store implements it.
type Clusters interface {
	Get(clusterID string) (*clusterconfig.Cluster, error)
	Clusters() ([]*clusterconfig.Cluster, error)
}

// Config holds the controller's dependencies and settings.
type Config struct {
	// Backend reaches the clusters. Required.
	Backend backend.Backend
	// Clusters resolves cluster IDs to monitors and namespaces. Required.
	Clusters Clusters
	// InstanceID names the journal instance (cliflags --instance-id).
	InstanceID string
	// CloneSoftDepth: a new clone this deep or deeper is flattened in the
	// background. Default DefaultCloneSoftDepth.
	CloneSoftDepth int
	// CloneHardDepth: no image is ever deeper. Default
	// DefaultCloneHardDepth.
	CloneHardDepth int
	// SetMetadata records the PVC/PV names as image metadata.
	SetMetadata bool
	// DefaultSecrets returns the credentials used by the RPCs that carry
	// none (GetCapacity; ListSnapshots without secrets). Nil disables
	// GetCapacity.
	DefaultSecrets func() (map[string]string, error)
	// Locks are the operation locks; a fresh set when nil.
	Locks *oplock.Locks
	// PurgeWorkers is the number of background workers queueing the
	// mgr's trash purges; default DefaultPurgeWorkers, negative purges
	// within DeleteVolume.
	PurgeWorkers int
	// Logger logs the background work; a no-op logger when nil. Requests
	// log through the logger of their context.
	Logger *zap.Logger
	// WatcherWait is how long DeleteVolume waits for an image's watchers
	// to go before failing with FailedPrecondition (the mgr watches a
	// parent briefly while it removes a clone). Default
	// DefaultWatcherWait; negative means no wait.
	WatcherWait time.Duration
	// PartialBound is how long a half-made image (see partial.go) stays
	// untouched after it was first seen, as a live create may still be at
	// work on it. Default DefaultPartialBound; it must be at least
	// PartialBoundFactor times the Ceph op timeout.
	PartialBound time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// DefaultWatcherWait is the default of Config.WatcherWait.
const DefaultWatcherWait = 3 * time.Second

// Server is the CSI Controller service.
type Server struct {
	csi.UnimplementedControllerServer
	cfg    Config
	locks  *oplock.Locks
	purger *purger // nil: purge within the request
	// partials are the half-made images this process has seen.
	partials partialSightings
}

var _ csi.ControllerServer = (*Server)(nil)

// New validates cfg and returns a Controller server.
func New(cfg Config) (*Server, error) {
	if cfg.Backend == nil || cfg.Clusters == nil {
		return nil, errors.New("controller: Backend and Clusters are required")
	}
	if cfg.InstanceID == "" {
		cfg.InstanceID = "default"
	}
	if cfg.CloneSoftDepth <= 0 {
		cfg.CloneSoftDepth = DefaultCloneSoftDepth
	}
	if cfg.CloneHardDepth <= 0 {
		cfg.CloneHardDepth = DefaultCloneHardDepth
	}
	if cfg.WatcherWait == 0 {
		cfg.WatcherWait = DefaultWatcherWait
	}
	if cfg.PartialBound <= 0 {
		cfg.PartialBound = DefaultPartialBound
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CloneSoftDepth > cfg.CloneHardDepth {
		return nil, fmt.Errorf("controller: clone soft depth %d exceeds hard depth %d",
			cfg.CloneSoftDepth, cfg.CloneHardDepth)
	}
	locks := cfg.Locks
	if locks == nil {
		locks = oplock.New()
	}
	s := &Server{cfg: cfg, locks: locks}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.PurgeWorkers == 0 {
		cfg.PurgeWorkers = DefaultPurgeWorkers
	}
	if cfg.PurgeWorkers > 0 {
		s.purger = newPurger(cfg.Backend, cfg.PurgeWorkers, cfg.Logger)
	}
	return s, nil
}

// Close finishes the queued background purges. Calls after Close purge
// within the request.
func (s *Server) Close() {
	if s.purger != nil {
		s.purger.close()
	}
}

// ControllerGetCapabilities advertises exactly the RPCs implemented.
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
		csi.ControllerServiceCapability_RPC_MODIFY_VOLUME,
	}
	// These RPCs carry no secrets (ListVolumes, ControllerGetVolume,
	// GetCapacity) or are called without them by the health monitor
	// (ControllerListVolumeHealth): they need the driver's own.
	if s.cfg.DefaultSecrets != nil {
		types = append(types, csi.ControllerServiceCapability_RPC_GET_CAPACITY,
			csi.ControllerServiceCapability_RPC_LIST_VOLUMES, csi.ControllerServiceCapability_RPC_GET_VOLUME,
			csi.ControllerServiceCapability_RPC_LIST_VOLUME_HEALTH)
	}
	return csicaps.Controller(types...), nil
}
