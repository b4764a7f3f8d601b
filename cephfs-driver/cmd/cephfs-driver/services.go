package main

import (
	"errors"
	"flag"
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
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/volctx"
	"github.com/seed-6a310834/ceph-csi/shared/cephconn"
	"github.com/seed-6a310834/ceph-csi/shared/cliflags"
	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/execx"
)

// driverOptions are the CephFS driver's own flags.
type driverOptions struct {
	nodeStateDir      string
	defaultMounter    string
	fuseBinary        string
	cloneWait         time.Duration
	capacitySecretDir string
}

func registerDriverFlags(fs *flag.FlagSet) *driverOptions {
	o := &driverOptions{}
	fs.StringVar(&o.nodeStateDir, "node-state-dir", "",
		"directory of the node's stage records (default /var/lib/kubelet/plugins/<driver-name>/node-state)")
	fs.StringVar(&o.defaultMounter, "default-mounter", volctx.MounterKernel,
		`mounter for volumes whose context names none: "kernel" or "fuse"`)
	fs.StringVar(&o.fuseBinary, "fuse-binary", host.DefaultFuseBinary, "ceph-fuse program")
	fs.DurationVar(&o.cloneWait, "clone-wait", controller.DefaultCloneWait,
		"longest a CreateVolume waits for a clone before answering Aborted (a retry resumes the clone)")
	fs.StringVar(&o.capacitySecretDir, "capacity-secret-dir", "",
		"directory with adminID and adminKey files (a mounted Secret) for GetCapacity; empty disables GetCapacity")
	return o
}

func (o *driverOptions) validate() error {
	var errs []error
	if o.defaultMounter != volctx.MounterKernel && o.defaultMounter != volctx.MounterFuse {
		errs = append(errs, fmt.Errorf("--default-mounter: %q is not %q or %q", o.defaultMounter, volctx.MounterKernel, volctx.MounterFuse))
	}
	if o.cloneWait <= 0 {
		errs = append(errs, fmt.Errorf("--clone-wait: %v must be positive", o.cloneWait))
	}
	return errors.Join(errs...)
}

// poolOptions disables librados' bound on mon and mgr commands: a
// subvolume removal can legitimately wait for a CephFS client to release
// its capabilities, and the late reply of a command that timed out crashes
// the process (see cephconn.Options.CommandTimeout). Connecting and OSD
// operations keep the bounds of the flags.
func poolOptions(opts *cliflags.Options) cephconn.Options {
	return cephconn.Options{ConnectTimeout: opts.CephConnectTimeout, OpTimeout: opts.CephOpTimeout, CommandTimeout: -1}
}

// services are the Controller and Node services of a mode (nil when not
// served) and what must be closed after serving.
type services struct {
	controller csi.ControllerServer
	node       csi.NodeServer
	close      func()
}

func newServices(opts *cliflags.Options, dopts *driverOptions, logger *zap.Logger) (*services, error) {
	clusters := clusterconfig.NewStore(opts.ClusterConfig)
	svc := &services{close: func() {}}
	if opts.Mode.ServesController() {
		pool := cephconn.NewPool(poolOptions(opts))
		svc.close = pool.Close
		cfg := controller.Config{
			Connector:  cephfs.NewConnector(pool),
			Clusters:   clusters,
			InstanceID: opts.InstanceID,
			CloneWait:  dopts.cloneWait,
		}
		if dir := dopts.capacitySecretDir; dir != "" {
			cfg.CapacityCredentials = func() (*credentials.Credentials, error) { return readSecretDir(dir) }
		}
		ctrl, err := controller.New(cfg)
		if err != nil {
			pool.Close()
			return nil, err
		}
		svc.controller = ctrl
	}
	if opts.Mode.ServesNode() {
		credentials.SweepAtStart(host.CredentialPrefix, logger)
		n, err := newNode(opts, dopts, clusters)
		if err != nil {
			svc.close()
			return nil, err
		}
		svc.node = n
	}
	return svc, nil
}

func newNode(opts *cliflags.Options, dopts *driverOptions, clusters *clusterconfig.Store) (*node.Server, error) {
	stateDir := dopts.nodeStateDir
	if stateDir == "" {
		stateDir = filepath.Join("/var/lib/kubelet/plugins", opts.DriverName, "node-state")
	}
	run := execx.OS{}
	return node.New(node.Config{
		NodeID:   opts.NodeID,
		Clusters: clusters,
		Mounters: map[string]host.Mounter{
			volctx.MounterKernel: &host.Kernel{Exec: run},
			volctx.MounterFuse:   &host.Fuse{Exec: run, Binary: dopts.fuseBinary},
		},
		DefaultMounter: dopts.defaultMounter,
		StateDir:       stateDir,
	})
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
