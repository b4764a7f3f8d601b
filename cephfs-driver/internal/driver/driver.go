// Package driver wires the CephFS driver's CSI services for one process:
// one cluster-configuration store, the controller with its Ceph connection
// pool, the node server with its kernel and ceph-fuse mounters, the
// Identity service, and the gRPC server with its metrics listener.
// cmd/cephfs-driver parses flags into a Config.
package driver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"go.uber.org/zap"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/cephfs"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/controller"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/host"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/node"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/nodelookup"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/volctx"
	"github.com/seed-6a310834/ceph-csi/shared/cephconn"
	"github.com/seed-6a310834/ceph-csi/shared/cliflags"
	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/csiserver"
	"github.com/seed-6a310834/ceph-csi/shared/execx"
	"github.com/seed-6a310834/ceph-csi/shared/identity"
	"github.com/seed-6a310834/ceph-csi/shared/nodelabels"
)

// CephFSOptions are the CephFS driver's own settings.
type CephFSOptions struct {
	// NodeStateDir holds the node's stage records; empty means
	// /var/lib/kubelet/plugins/<driver name>/node-state.
	NodeStateDir string
	// DefaultMounter serves volumes whose context names none.
	DefaultMounter string
	// FuseBinary is the ceph-fuse program.
	FuseBinary string
	// CloneWait bounds how long a CreateVolume waits for a clone.
	CloneWait time.Duration
	// CapacitySecretDir holds adminID and adminKey files for GetCapacity;
	// empty disables GetCapacity.
	CapacitySecretDir string
	// NodeSecretsDir holds the node-stage Secret's files, for mounting a
	// dead staging mount again at NodePublishVolume (node.Config.HealSecrets).
	NodeSecretsDir string
	// NodeLabels and CrushLocationLabels give the node's CRUSH location
	// for read affinity on kernel mounts (config.json's readAffinity);
	// without NodeLabels the Node's labels are read through the API at
	// start when read affinity can apply (nodelabels.Affinity).
	NodeLabels          map[string]string
	CrushLocationLabels []string
	// NodeAPI reads the Node; nil: the in-cluster API server.
	NodeAPI *nodelabels.Client
}

// Config is everything Run needs.
type Config struct {
	Shared  *cliflags.Options
	CephFS  CephFSOptions
	Version string
	Logger  *zap.Logger
}

// Run serves the services of cfg.Shared.Mode until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Shared == nil || cfg.Logger == nil {
		return errors.New("driver: shared options and a logger are required")
	}
	ids, err := identity.New(identity.Config{Name: cfg.Shared.DriverName, Version: cfg.Version,
		Capabilities: PluginCapabilities(cfg.Shared.Mode)})
	if err != nil {
		return err
	}
	svc, err := newServices(cfg)
	if err != nil {
		return err
	}
	defer svc.close()
	cfg.Logger.Info("starting", zap.String("driver", cfg.Shared.DriverName), zap.String("version", cfg.Version),
		zap.Stringer("mode", cfg.Shared.Mode), zap.String("endpoint", cfg.Shared.Endpoint))
	return csiserver.ServeWithMetrics(ctx, csiserver.Config{Endpoint: cfg.Shared.Endpoint, Logger: cfg.Logger,
		DriverName: cfg.Shared.DriverName, Identity: ids, Controller: svc.controller, Node: svc.node,
		GroupController: svc.group},
		cfg.Shared.MetricsAddress)
}

// PluginCapabilities announces the controller and group controller
// (volume group snapshots) services in the modes that serve them.
func PluginCapabilities(mode cliflags.Mode) []*csi.PluginCapability {
	if !mode.ServesController() {
		return nil
	}
	return []*csi.PluginCapability{
		identity.ServiceCapability(csi.PluginCapability_Service_CONTROLLER_SERVICE),
		identity.ServiceCapability(csi.PluginCapability_Service_GROUP_CONTROLLER_SERVICE),
	}
}

// poolOptions disables librados' bound on mon and mgr commands: a
// subvolume removal can legitimately wait for a CephFS client to release
// its capabilities, and the late reply of a command that timed out crashes
// the process (see cephconn.Options.CommandTimeout). Connecting and OSD
// operations keep the bounds of the flags.
func poolOptions(opts *cliflags.Options) cephconn.Options {
	return cephconn.Options{ConnectTimeout: opts.CephConnectTimeout, OpTimeout: opts.CephOpTimeout, CommandTimeout: -1,
		ConfFile: cephconn.DefaultConfFile}
}

// services are the Controller and Node services of a mode (nil when not
// served) and what must be closed after serving.
type services struct {
	controller csi.ControllerServer
	group      csi.GroupControllerServer
	node       csi.NodeServer
	close      func()
}

func newServices(cfg Config) (*services, error) {
	clusters := clusterconfig.NewStore(cfg.Shared.ClusterConfig)
	svc := &services{close: func() {}}
	if cfg.Shared.Mode.ServesController() {
		ctrl, closePool, err := newController(cfg, clusters)
		if err != nil {
			return nil, err
		}
		svc.controller, svc.group, svc.close = ctrl, ctrl, closePool
	}
	if cfg.Shared.Mode.ServesNode() {
		credentials.SweepAtStart(host.CredentialPrefix, cfg.Logger)
		n, closePool, err := newNode(cfg, clusters)
		if err != nil {
			svc.close()
			return nil, err
		}
		closeCtrl := svc.close
		svc.node, svc.close = n, func() { closeCtrl(); closePool() }
	}
	return svc, nil
}

func newController(cfg Config, clusters *clusterconfig.Store) (*controller.Server, func(), error) {
	pool := cephconn.NewPool(poolOptions(cfg.Shared))
	ccfg := controller.Config{
		Connector:  cephfs.NewConnector(pool),
		Clusters:   clusters,
		InstanceID: cfg.Shared.InstanceID,
		CloneWait:  cfg.CephFS.CloneWait,
	}
	if dir := cfg.CephFS.CapacitySecretDir; dir != "" {
		ccfg.CapacityCredentials = func() (*credentials.Credentials, error) { return readSecretDir(dir) }
	}
	ctrl, err := controller.New(ccfg)
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	return ctrl, pool.Close, nil
}

// newNode wires the Node service; its connection pool (opened only when an
// old or ceph-csi volume context needs a lookup) closes with the returned
// function.
func newNode(cfg Config, clusters *clusterconfig.Store) (*node.Server, func(), error) {
	stateDir := cfg.CephFS.NodeStateDir
	if stateDir == "" {
		stateDir = filepath.Join("/var/lib/kubelet/plugins", cfg.Shared.DriverName, "node-state")
	}
	run := execx.OS{}
	pool := cephconn.NewPool(poolOptions(cfg.Shared))
	n, err := node.New(node.Config{
		NodeID:   cfg.Shared.NodeID,
		Clusters: clusters,
		Mounters: map[string]host.Mounter{
			volctx.MounterKernel: &host.Kernel{Exec: run},
			volctx.MounterFuse:   &host.Fuse{Exec: run, Binary: cfg.CephFS.FuseBinary},
		},
		DefaultMounter: cfg.CephFS.DefaultMounter,
		StateDir:       stateDir,
		NodeLabels:     affinity(cfg, clusters).Labels(context.Background()), CrushLocationLabels: cfg.CephFS.CrushLocationLabels,
		Lookup:      &nodelookup.Lookup{Connector: cephfs.NewConnector(pool), InstanceID: cfg.Shared.InstanceID},
		HealSecrets: healSecrets(cfg.CephFS.NodeSecretsDir),
	})
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	return n, pool.Close, nil
}

// healSecrets reads the node-stage Secret from dir on every call (a mounted
// Secret may be rotated); nil for no dir.
func healSecrets(dir string) func() (map[string]string, error) {
	if dir == "" {
		return nil
	}
	return func() (map[string]string, error) {
		return credentials.SecretsFromDir(dir, "adminID", "adminKey", "userID", "userKey")
	}
}

// affinity is where the node's read-affinity labels come from.
func affinity(cfg Config, clusters *clusterconfig.Store) *nodelabels.Affinity {
	return &nodelabels.Affinity{NodeName: cfg.Shared.NodeID, Static: cfg.CephFS.NodeLabels,
		CrushLocationLabels: cfg.CephFS.CrushLocationLabels, Clusters: clusters, API: cfg.CephFS.NodeAPI, Logger: cfg.Logger}
}

// readSecretDir reads adminID and adminKey files, as a Secret mounted as a
// volume provides them; read on every use so that rotation needs no
// restart.
func readSecretDir(dir string) (*credentials.Credentials, error) {
	secrets := map[string]string{}
	for _, k := range []string{credentials.AdminIDField, credentials.AdminKeyField} {
		data, err := os.ReadFile(filepath.Join(dir, k))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", k, err)
		}
		secrets[k] = strings.TrimSpace(string(data))
	}
	return credentials.ForCephFSAdmin(secrets)
}
