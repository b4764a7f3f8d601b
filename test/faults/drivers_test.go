package faults

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/seed-6a310834/ceph-csi/shared/driverproc"
	"github.com/seed-6a310834/ceph-csi/shared/testcluster"
)

// The drivers' own bounds on Ceph, chosen well inside the client deadline
// of the outage requests, so that an answer before that deadline proves the
// driver answered rather than the client giving up.
const (
	cephConnectTimeout = 3 * time.Second
	cephOpTimeout      = 4 * time.Second
	rbdMgrTimeout      = 4 * time.Second
)

// kind is one of the two drivers.
type kind struct {
	name      string // rbd or cephfs
	binaryEnv string // RBD_DRIVER_BINARY / CEPHFS_DRIVER_BINARY
	module    string // module directory, relative to this package
	pkg       string // main package in the module
}

var (
	rbdKind    = kind{name: "rbd", binaryEnv: "RBD_DRIVER_BINARY", module: "../../rbd-driver", pkg: "./cmd/rbd-driver"}
	cephfsKind = kind{name: "cephfs", binaryEnv: "CEPHFS_DRIVER_BINARY", module: "../../cephfs-driver", pkg: "./cmd/cephfs-driver"}
)

// binaries caches the built driver binaries for the whole test process
// (driverproc.Binary builds into a test's temp directory otherwise).
var binaries = struct {
	sync.Mutex
	paths map[string]string
}{paths: map[string]string{}}

// binary returns the driver binary: $RBD_DRIVER_BINARY or
// $CEPHFS_DRIVER_BINARY (the Makefile points them at bin/), else a build
// kept for the rest of the run.
func (k kind) binary(t *testing.T) string {
	t.Helper()
	binaries.Lock()
	defer binaries.Unlock()
	if b, ok := binaries.paths[k.name]; ok {
		return b
	}
	b := driverproc.Binary(t, k.binaryEnv, k.module, k.pkg, "pacific")
	if os.Getenv(k.binaryEnv) == "" {
		// Keep the build beyond this test's temp directory.
		dst := filepath.Join(os.TempDir(), "faults-"+k.name+"-driver-"+randomHex(t, 4))
		data, err := os.ReadFile(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, 0o700); err != nil {
			t.Fatal(err)
		}
		b = dst
	}
	binaries.paths[k.name] = b
	return b
}

// removeBuilds deletes the binaries built by binary.
func removeBuilds() {
	for _, k := range []kind{rbdKind, cephfsKind} {
		if b, ok := binaries.paths[k.name]; ok && os.Getenv(k.binaryEnv) == "" {
			_ = os.Remove(b)
		}
	}
}

// setup is what one test gives its drivers: a cluster configuration with a
// subvolume group of its own, a journal instance of its own and the secrets.
type setup struct {
	t        *testing.T
	cluster  *testcluster.Cluster
	dir      string
	config   string
	group    string
	instance string
	// before is the cluster's state when the test started (audit).
	before state
	// used are the drivers the test started: the audit looks at their
	// pools only, so that parallel tests of the other driver do not count.
	used    map[string]bool
	drivers []*driver
}

// newSetup writes the test's cluster configuration and takes the state of
// the cluster that the audit at the test's end compares with.
func newSetup(t *testing.T, c *testcluster.Cluster) *setup {
	t.Helper()
	s := &setup{t: t, cluster: c, dir: t.TempDir(), group: "faults-" + randomHex(t, 4), instance: "faults-" + randomHex(t, 4),
		used: map[string]bool{}}
	s.before = clusterState(t, c)
	t.Cleanup(s.audit)
	cfg := []map[string]any{{
		"clusterID": c.FSID, "monitors": c.Monitors,
		"rbd":    map[string]string{"radosNamespace": ""},
		"cephFS": map[string]string{"subvolumeGroup": s.group, "radosNamespace": cephfsNamespace},
	}}
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.config = filepath.Join(s.dir, "config.json")
	if err := os.WriteFile(s.config, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// secretDir writes one file per secret into a new private directory, as a
// mounted Kubernetes Secret looks.
func (s *setup) secretDir(secrets map[string]string) string {
	dir, err := os.MkdirTemp(s.dir, "secret")
	if err != nil {
		s.t.Fatal(err)
	}
	for k, v := range secrets {
		if err := os.WriteFile(filepath.Join(dir, k), []byte(v), 0o600); err != nil {
			s.t.Fatal(err)
		}
	}
	return dir
}

// cephUser is a cephx user: ID without the "client." prefix, and key.
type cephUser struct{ id, key string }

// newUser creates a cephx user with the admin's capabilities, removed when
// the test ends.
func (s *setup) newUser() cephUser {
	s.t.Helper()
	c := s.cluster
	id := "faults-" + randomHex(s.t, 4)
	cli(s.t, c, "ceph", "auth", "get-or-create", "client."+id,
		"mon", "allow *", "osd", "allow *", "mgr", "allow *", "mds", "allow *")
	s.t.Cleanup(func() {
		if _, err := cliErr(c, "ceph", "auth", "rm", "client."+id); err != nil {
			s.t.Errorf("remove user %s: %v", id, err)
		}
	})
	return cephUser{id: id, key: strings.TrimSpace(cli(s.t, c, "ceph", "auth", "print-key", "client."+id))}
}

// driver is a running driver process and its clients.
type driver struct {
	kind
	s       *setup
	opts    driverproc.Options
	proc    *driverproc.Proc   // the current process
	procs   []*driverproc.Proc // every process started
	ctrl    csi.ControllerClient
	node    csi.NodeClient
	params  map[string]string
	secrets map[string]string
}

// startController runs the driver in controller mode with short Ceph
// timeouts and GetCapacity credentials.
func (s *setup) startController(k kind) *driver {
	s.t.Helper()
	return s.startDriver(k, "controller")
}

// startAll runs the driver in all mode (controller and node) with the node
// state in stateDir; its volumes are mounted through FUSE (rbd-fuse + a
// loop device, ceph-fuse).
func (s *setup) startAll(k kind, stateDir string) *driver {
	s.t.Helper()
	stateFlag := map[string]string{"rbd": "--state-dir=", "cephfs": "--node-state-dir="}[k.name]
	d := s.startDriver(k, "all", "--node-id=faults-node", stateFlag+stateDir)
	d.params["mounter"] = "fuse"
	return d
}

// startDriver runs the driver in mode with the test's configuration.
func (s *setup) startDriver(k kind, mode string, extra ...string) *driver {
	s.t.Helper()
	s.used[k.name] = true
	d := &driver{kind: k, s: s}
	s.drivers = append(s.drivers, d)
	args := []string{"--mode=" + mode, "--cluster-config=" + s.config, "--instance-id=" + s.instance,
		"--log-format=console", "--ceph-connect-timeout=" + cephConnectTimeout.String(),
		"--ceph-op-timeout=" + cephOpTimeout.String()}
	c := s.cluster
	switch k.name {
	case "rbd":
		d.params = map[string]string{"clusterID": c.FSID, "pool": rbdPool}
		d.secrets = map[string]string{"userID": c.AdminID, "userKey": c.AdminKey}
		args = append(args, "--controller-secrets-dir="+s.secretDir(d.secrets), "--mgr-timeout="+rbdMgrTimeout.String())
	case "cephfs":
		d.params = map[string]string{"clusterID": c.FSID, "fsName": fsName}
		d.secrets = map[string]string{"adminID": c.AdminID, "adminKey": c.AdminKey}
		args = append(args, "--capacity-secret-dir="+s.secretDir(d.secrets))
	}
	d.opts = driverproc.Options{Binary: k.binary(s.t), Args: append(args, extra...)}
	d.start()
	return d
}

// start (re)starts the process on the driver's socket.
func (d *driver) start() {
	d.s.t.Helper()
	d.proc = driverproc.Start(d.s.t, d.opts)
	d.opts.Socket = d.proc.Socket
	d.procs = append(d.procs, d.proc)
	conn := d.proc.Conn(d.s.t)
	d.ctrl = csi.NewControllerClient(conn)
	d.node = csi.NewNodeClient(conn)
}

// problems returns what the driver's processes logged beside info and
// debug lines (except those about the trash): warnings, errors, and the
// Ceph libraries' messages.
func (d *driver) problems() string {
	var out []string
	for _, p := range d.procs {
		for _, line := range strings.Split(p.Log(), "\n") {
			if line != "" && (strings.Contains(line, "trash") ||
				!strings.Contains(line, "\tINFO\t") && !strings.Contains(line, "\tDEBUG\t")) {
				out = append(out, line)
			}
		}
	}
	return strings.Join(out, "\n")
}

// stop ends the driver with SIGTERM, as Kubernetes does: it finishes its
// background work (the RBD purges) and must exit cleanly.
func (d *driver) stop(t *testing.T) {
	t.Helper()
	if err := d.proc.Stop(time.Minute); err != nil {
		t.Errorf("%s driver: stop: %v", d.name, err)
	}
}

// alive fails the test if the driver process has exited (a panic or a
// crash in the Ceph libraries).
func (d *driver) alive(t *testing.T) {
	t.Helper()
	select {
	case <-d.proc.Done():
		t.Fatalf("%s driver exited:\n%s", d.name, d.proc.Log())
	default:
	}
}

var mountRWO = []*csi.VolumeCapability{{
	AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
	AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
}}

func (d *driver) createVolumeRequest(name string) *csi.CreateVolumeRequest {
	return &csi.CreateVolumeRequest{Name: name, CapacityRange: &csi.CapacityRange{RequiredBytes: 16 << 20},
		VolumeCapabilities: mountRWO, Parameters: d.params, Secrets: d.secrets}
}

func (d *driver) createVolume(ctx context.Context, name string) (*csi.Volume, error) {
	return d.createVolumeAs(ctx, name, d.secrets)
}

func (d *driver) createVolumeAs(ctx context.Context, name string, secrets map[string]string) (*csi.Volume, error) {
	req := d.createVolumeRequest(name)
	req.Secrets = secrets
	resp, err := d.ctrl.CreateVolume(ctx, req)
	return resp.GetVolume(), err
}

// secretsOf returns the provisioner secrets of a Ceph user in the
// driver's field names.
func (d *driver) secretsOf(u cephUser) map[string]string {
	if d.name == "rbd" {
		return map[string]string{"userID": u.id, "userKey": u.key}
	}
	return map[string]string{"adminID": u.id, "adminKey": u.key}
}

func (d *driver) deleteVolume(ctx context.Context, id string) error {
	_, err := d.ctrl.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: id, Secrets: d.secrets})
	return err
}

func (d *driver) createSnapshot(ctx context.Context, name, volID string) (*csi.Snapshot, error) {
	resp, err := d.ctrl.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: name, SourceVolumeId: volID, Secrets: d.secrets})
	return resp.GetSnapshot(), err
}

func (d *driver) deleteSnapshot(ctx context.Context, id string) error {
	_, err := d.ctrl.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: id, Secrets: d.secrets})
	return err
}

func (d *driver) getCapacity(ctx context.Context) error {
	_, err := d.ctrl.GetCapacity(ctx, &csi.GetCapacityRequest{Parameters: d.params})
	return err
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// withTimeout returns a context that ends after d.
func withTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
