// Package driver wires the RBD driver's CSI services for one process: one
// cluster-configuration store, one Ceph connection pool for the
// controller, the node server, the Identity service, and the gRPC server
// with its metrics listener. cmd/rbd-driver parses flags into a Config;
// the conformance test runs the same wiring in-process.
package driver

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"go.uber.org/zap"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/cephrbd"
	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/controller"
	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/host"
	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/node"
	"github.com/seed-6a310834/ceph-csi/shared/cephconn"
	"github.com/seed-6a310834/ceph-csi/shared/cliflags"
	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/csiserver"
	"github.com/seed-6a310834/ceph-csi/shared/identity"
	"github.com/seed-6a310834/ceph-csi/shared/nodelabels"
)

// RBDOptions are the RBD driver's own settings.
type RBDOptions struct {
	CloneSoftDepth    int
	CloneHardDepth    int
	SetMetadata       bool
	MaxVolumesPerNode int64
	Topology          map[string]string
	StateDir          string
	// SecretsDir holds files userID and userKey: the credentials of RPCs
	// that carry none. Empty disables GetCapacity.
	SecretsDir string
	MgrTimeout time.Duration
	// NodeLabels and CrushLocationLabels give the node's CRUSH location
	// for read affinity (config.json's readAffinity); without NodeLabels
	// the Node's labels are read through the API at start when read
	// affinity can apply (nodelabels.Affinity).
	NodeLabels          map[string]string
	CrushLocationLabels []string
	// NodeSecretsDir holds files userID and userKey with which the node
	// re-attaches rbd-nbd devices at start; empty disables that.
	NodeSecretsDir string
	// DomainLabels name the labels of this node's Kubernetes Node that
	// become topology segments (ceph-csi's --domainlabels), read at start
	// through the Kubernetes API; they add to Topology.
	DomainLabels []string
	// NodeAPI reads the Node (for DomainLabels, and for read affinity
	// when NodeLabels is empty); nil: the in-cluster API server.
	NodeAPI *nodelabels.Client
}

// Config is everything Run needs.
type Config struct {
	Shared  *cliflags.Options
	RBD     RBDOptions
	Version string
	Logger  *zap.Logger
}

// Run serves the services of cfg.Shared.Mode until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Shared == nil || cfg.Logger == nil {
		return errors.New("driver: shared options and a logger are required")
	}
	svc, err := build(cfg, cfg.Logger)
	if err != nil {
		return err
	}
	defer svc.close()
	cfg.Logger.Info("starting", zap.String("driver", cfg.Shared.DriverName), zap.String("version", cfg.Version),
		zap.Stringer("mode", cfg.Shared.Mode), zap.String("endpoint", cfg.Shared.Endpoint))
	return csiserver.ServeWithMetrics(ctx, csiserver.Config{Endpoint: cfg.Shared.Endpoint, Logger: cfg.Logger,
		DriverName: cfg.Shared.DriverName, Identity: svc.identity, Controller: svc.controllerServer(), Node: svc.node,
		GroupController: svc.groupServer()},
		cfg.Shared.MetricsAddress)
}

// services are the CSI services of one process and what they hold.
type services struct {
	identity   *identity.Server
	controller *controller.Server
	node       csi.NodeServer
	pool       *cephconn.Pool
	// commands lends the connections of mgr commands (cephrbd.Options).
	commands *cephconn.Pool
}

// close finishes the controller's background purges, then closes the
// connections.
func (s *services) close() {
	if s.controller != nil {
		s.controller.Close()
	}
	if s.pool != nil {
		s.pool.Close()
	}
	if s.commands != nil {
		s.commands.Close()
	}
}

// controllerServer returns the controller as the interface, nil when none
// (a nil *controller.Server would not compare equal to nil).
func (s *services) controllerServer() csi.ControllerServer {
	if s.controller == nil {
		return nil
	}
	return s.controller
}

// groupServer returns the GroupController service, nil without a
// controller.
func (s *services) groupServer() csi.GroupControllerServer {
	if s.controller == nil {
		return nil
	}
	return s.controller.Group()
}

func build(cfg Config, logger *zap.Logger) (*services, error) {
	store := clusterconfig.NewStore(cfg.Shared.ClusterConfig)
	svc := &services{}
	err := errors.Join(svc.buildController(cfg, store, logger), svc.buildNode(cfg, store, logger), svc.buildIdentity(cfg))
	if err != nil {
		svc.close()
		return nil, err
	}
	return svc, nil
}

func (s *services) buildController(cfg Config, store *clusterconfig.Store, logger *zap.Logger) error {
	if !cfg.Shared.Mode.ServesController() {
		return nil
	}
	opts := cephconn.Options{ConnectTimeout: cfg.Shared.CephConnectTimeout, OpTimeout: cfg.Shared.CephOpTimeout,
		ConfFile: cephconn.DefaultConfFile}
	s.pool = cephconn.NewPool(opts)
	opts.CommandTimeout = -1 // mgr commands must not time out in librados: see cephrbd.Options.Commands
	s.commands = cephconn.NewPool(opts)
	ctrl, err := controller.New(controller.Config{
		Backend:        cephrbd.New(s.pool, cephrbd.Options{MgrTimeout: cfg.RBD.MgrTimeout, Commands: s.commands}),
		Clusters:       store,
		InstanceID:     cfg.Shared.InstanceID,
		CloneSoftDepth: cfg.RBD.CloneSoftDepth,
		CloneHardDepth: cfg.RBD.CloneHardDepth,
		SetMetadata:    cfg.RBD.SetMetadata,
		DefaultSecrets: SecretsReader(cfg.RBD.SecretsDir),
		PartialBound:   controller.PartialBoundFactor * cfg.Shared.CephOpTimeout,
		Logger:         logger.Named("controller"),
	})
	s.controller = ctrl
	if err == nil {
		go sweepTrash(ctrl, logger)
	}
	return err
}

// sweepTrash has the controller purge, in the background, the trashed
// images a previous process left queued.
func sweepTrash(ctrl *controller.Server, logger *zap.Logger) {
	if n := ctrl.SweepAtStart(context.Background()); n > 0 {
		logger.Info("purging the trash left by a previous controller", zap.Int("pools", n))
	}
}

func (s *services) buildNode(cfg Config, store *clusterconfig.Store, logger *zap.Logger) error {
	if !cfg.Shared.Mode.ServesNode() {
		return nil
	}
	credentials.SweepAtStart(host.CredentialPrefix, logger)
	topology, err := nodeTopology(cfg)
	if err != nil {
		return err
	}
	n, err := node.New(node.Config{NodeID: cfg.Shared.NodeID, MaxVolumesPerNode: cfg.RBD.MaxVolumesPerNode,
		Topology: topology, StateDir: cfg.RBD.StateDir, ClusterConfig: store,
		NodeLabels: affinity(cfg, store, logger).Labels(context.Background()), CrushLocationLabels: cfg.RBD.CrushLocationLabels,
		HealSecrets: SecretsReader(cfg.RBD.NodeSecretsDir)})
	if err != nil {
		return err
	}
	s.node = n
	go heal(n, logger)
	return nil
}

// affinity is where the node's read-affinity labels come from.
func affinity(cfg Config, store *clusterconfig.Store, logger *zap.Logger) *nodelabels.Affinity {
	return &nodelabels.Affinity{NodeName: cfg.Shared.NodeID, Static: cfg.RBD.NodeLabels,
		CrushLocationLabels: cfg.RBD.CrushLocationLabels, Clusters: store, API: cfg.RBD.NodeAPI, Logger: logger}
}

// nodeTopology is the static --topology segments plus those of the
// Node's --domainlabels (read once, at start, as ceph-csi does).
func nodeTopology(cfg Config) (map[string]string, error) {
	topology := maps.Clone(cfg.RBD.Topology)
	if len(cfg.RBD.DomainLabels) == 0 {
		return topology, nil
	}
	api := cfg.RBD.NodeAPI
	if api == nil {
		var err error
		if api, err = nodelabels.InCluster(nodelabels.ServiceAccountDir); err != nil {
			return nil, fmt.Errorf("--domainlabels: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	labels, err := api.Labels(ctx, cfg.Shared.NodeID)
	if err != nil {
		return nil, fmt.Errorf("--domainlabels: %w", err)
	}
	fromLabels, err := nodelabels.Topology(cfg.RBD.DomainLabels, labels, cfg.Shared.DriverName)
	if err != nil {
		return nil, fmt.Errorf("--domainlabels: %w", err)
	}
	if topology == nil {
		topology = map[string]string{}
	}
	maps.Copy(topology, fromLabels)
	return topology, nil
}

// heal recovers, in the background, the staged volumes whose rbd-nbd or
// rbd-fuse process died with the previous node plugin container.
func heal(n *node.Server, logger *zap.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	healed, err := n.Heal(ctx)
	switch {
	case err != nil:
		logger.Error("recovering staged volumes", zap.Error(err))
	case healed > 0:
		logger.Info("recovered staged volumes", zap.Int("count", healed))
	}
}

func (s *services) buildIdentity(cfg Config) error {
	ids, err := identity.New(identity.Config{Name: cfg.Shared.DriverName, Version: cfg.Version,
		Capabilities: PluginCapabilities(cfg.Shared.Mode)})
	s.identity = ids
	return err
}

// PluginCapabilities announces the controller service and online volume
// expansion in the modes that serve the controller.
func PluginCapabilities(mode cliflags.Mode) []*csi.PluginCapability {
	if !mode.ServesController() {
		return nil
	}
	return []*csi.PluginCapability{
		identity.ServiceCapability(csi.PluginCapability_Service_CONTROLLER_SERVICE),
		// volume group snapshots (CreateVolumeGroupSnapshot and co.)
		identity.ServiceCapability(csi.PluginCapability_Service_GROUP_CONTROLLER_SERVICE),
		// topologyConstrainedPools place volumes by the accessibility
		// requirements, which the provisioner only sends with this.
		identity.ServiceCapability(csi.PluginCapability_Service_VOLUME_ACCESSIBILITY_CONSTRAINTS),
		{Type: &csi.PluginCapability_VolumeExpansion_{VolumeExpansion: &csi.PluginCapability_VolumeExpansion{
			Type: csi.PluginCapability_VolumeExpansion_ONLINE}}},
	}
}

// SecretsReader returns a function reading userID and userKey from dir on
// every call (a mounted Secret may be rotated), or nil for an empty dir.
func SecretsReader(dir string) func() (map[string]string, error) {
	if dir == "" {
		return nil
	}
	return func() (map[string]string, error) {
		out := map[string]string{}
		for _, k := range []string{"userID", "userKey"} {
			b, err := os.ReadFile(filepath.Join(dir, k))
			if err != nil {
				return nil, fmt.Errorf("read the %s secret: %w", k, err)
			}
			out[k] = strings.TrimSpace(string(b))
		}
		return out, nil
	}
}
