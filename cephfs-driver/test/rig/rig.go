// Package rig is the harness of the driver's real-cluster tests
// (test/sanity, test/integration, test/secrets) against the cluster of
// test/cluster.sh. Each test gets its own subvolume group and journal
// instance, and checks at the end that the group is empty and that it left
// nothing in the metadata pool's csi namespace; then it removes its group.
package rig

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/cephfs"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/controller"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/host"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/node"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/nodelookup"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/volctx"
	"github.com/seed-6a310834/ceph-csi/shared/cephconn"
	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/csiserver"
	"github.com/seed-6a310834/ceph-csi/shared/execx"
	"github.com/seed-6a310834/ceph-csi/shared/identity"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/testcluster"
)

const (
	FSName    = "cephfs"
	Namespace = clusterconfig.DefaultCephFSRadosNamespace
	NodeID    = "e2e-node"
)

// Env is one test's driver and its view of the cluster.
type Env struct {
	T         *testing.T
	Cluster   *testcluster.Cluster
	Group     string
	Instance  string
	Config    string
	Socket    string
	Conn      *grpc.ClientConn
	Ctrl      csi.ControllerClient
	GroupCtrl csi.GroupControllerClient
	Node      csi.NodeClient
	Admin     backend.Backend
	// CephConn is the admin's connection (for the fixtures of
	// internal/cephfs/cephfstest).
	CephConn *cephconn.Conn
	Store    journal.ObjectStore
	FS       backend.FileSystem
	Tmp      string
	// before is the namespace's object list when the test started.
	before []string
	stop   func()
}

// lockCluster holds, until the test ends, a lock shared by every test
// process using this harness on the cluster: the tests of test/sanity,
// test/integration and test/secrets share the metadata pool's csi
// namespace, whose object list the audit compares with the one at the
// start, so they must not overlap (go test runs packages in parallel).
func lockCluster(t *testing.T, fsid string) {
	t.Helper()
	path := filepath.Join(os.TempDir(), "cephfs-driver-rig-"+fsid+".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("lock %s: %v", path, err)
	}
	t.Cleanup(func() { f.Close() }) // closing releases the lock
}

// RandomHex returns n random bytes in hex.
func RandomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// AdminSecrets are the provisioner secrets.
func (e *Env) AdminSecrets() map[string]string {
	return map[string]string{credentials.AdminIDField: e.Cluster.AdminID, credentials.AdminKeyField: e.Cluster.AdminKey}
}

// NodeSecrets are node-stage secrets as ceph-csi users write them.
func (e *Env) NodeSecrets() map[string]string {
	return map[string]string{credentials.UserIDField: e.Cluster.AdminID, credentials.UserKeyField: e.Cluster.AdminKey}
}

// Params are StorageClass parameters for the test's cluster.
func (e *Env) Params(extra ...string) map[string]string {
	p := map[string]string{volctx.ClusterID: e.Cluster.FSID, volctx.FSName: FSName, volctx.Mounter: volctx.MounterFuse,
		"csi.storage.k8s.io/pvc/name": "e2e", "csi.storage.k8s.io/pvc/namespace": "default"}
	for i := 0; i+1 < len(extra); i += 2 {
		p[extra[i]] = extra[i+1]
	}
	return p
}

// New starts the driver (all services, fuse mounter for real, kernel
// mounter too though it cannot work here) on a unix socket with a cluster
// configuration naming a fresh subvolume group.
func New(t *testing.T, opts ...func(*controller.Config)) *Env {
	t.Helper()
	e := Prepare(t)
	e.start(opts...)
	return e
}

// Prepare writes the test's cluster configuration, opens its admin view
// of the cluster and arms the end-of-test audit, without starting a driver:
// for tests that run the driver binary themselves and set Conn, Ctrl and
// Node.
func Prepare(t *testing.T) *Env {
	t.Helper()
	c := testcluster.Get(t)
	lockCluster(t, c.FSID)
	e := &Env{T: t, Cluster: c, Group: "csi-test-" + RandomHex(t, 4), Instance: "e2e-" + RandomHex(t, 4), Tmp: t.TempDir()}
	e.writeConfig()
	e.openCluster()
	e.before = e.Objects()
	t.Cleanup(e.audit)
	return e
}

func (e *Env) writeConfig() {
	cfg := []clusterconfig.Cluster{{
		ClusterID: e.Cluster.FSID, Monitors: e.Cluster.Monitors,
		CephFS: clusterconfig.CephFSConfig{SubvolumeGroup: e.Group, RadosNamespace: Namespace},
	}}
	data, err := json.Marshal(cfg)
	if err != nil {
		e.T.Fatal(err)
	}
	e.Config = filepath.Join(e.Tmp, "config.json")
	if err := os.WriteFile(e.Config, data, 0o600); err != nil {
		e.T.Fatal(err)
	}
}

// openCluster opens the test's own admin view of the cluster.
func (e *Env) openCluster() {
	t := e.T
	pool := cephconn.NewPool(cephconn.Options{CommandTimeout: -1})
	t.Cleanup(pool.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pool.Get(ctx, cephconn.Target{ClusterID: e.Cluster.FSID, Monitors: e.Cluster.Monitors,
		Creds: &credentials.Credentials{ID: e.Cluster.AdminID, Key: e.Cluster.AdminKey}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Release)
	e.CephConn = conn
	e.Admin = cephfs.New(conn.Conn)
	fss, err := e.Admin.FileSystems(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(fss, func(f backend.FileSystem) bool { return f.Name == FSName })
	if i < 0 {
		t.Fatalf("no file system %q in %+v", FSName, fss)
	}
	e.FS = fss[i]
	store, err := cephconn.NewObjectStore(conn.Conn, e.FS.MetadataPool, Namespace)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Destroy)
	e.Store = store
}

// Objects lists the csi namespace of the metadata pool, sorted.
func (e *Env) Objects() []string {
	names, err := e.Store.ListObjects(context.Background(), "")
	if err != nil {
		e.T.Fatal(err)
	}
	slices.Sort(names)
	return names
}

// start serves the driver on a unix socket until the test ends.
func (e *Env) start(opts ...func(*controller.Config)) {
	t := e.T
	level := zap.WarnLevel
	if v := os.Getenv("E2E_LOG_LEVEL"); v != "" {
		_ = level.Set(v)
	}
	logger := zaptest.NewLogger(t, zaptest.Level(level))
	clusters := clusterconfig.NewStore(e.Config)
	pool := cephconn.NewPool(cephconn.Options{CommandTimeout: -1})
	cfg := controller.Config{Connector: cephfs.NewConnector(pool), Clusters: clusters, InstanceID: e.Instance,
		ClonePoll: 100 * time.Millisecond, MaxClonePoll: 500 * time.Millisecond}
	for _, o := range opts {
		o(&cfg)
	}
	ctrl, err := controller.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := NewNodeServerWithLookup(t, clusters, filepath.Join(e.Tmp, "node-state"),
		&nodelookup.Lookup{Connector: cfg.Connector, InstanceID: e.Instance})
	ids, err := identity.New(identity.Config{Name: "cephfs.csi.ceph.com", Version: "e2e", Capabilities: []*csi.PluginCapability{
		identity.ServiceCapability(csi.PluginCapability_Service_CONTROLLER_SERVICE),
		identity.ServiceCapability(csi.PluginCapability_Service_GROUP_CONTROLLER_SERVICE)}})
	if err != nil {
		t.Fatal(err)
	}
	e.Socket = filepath.Join(e.Tmp, "csi.sock")
	srv, err := csiserver.New(csiserver.Config{Endpoint: "unix://" + e.Socket, Logger: logger, DriverName: "cephfs.csi.ceph.com",
		Identity: ids, Controller: ctrl, Node: n, GroupController: ctrl})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	e.stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("driver: %v", err)
		}
		pool.Close()
	}
	t.Cleanup(func() {
		if e.stop != nil {
			e.stop()
			e.stop = nil
		}
	})
	e.dial()
}

// NewNodeServer returns a node service with both mounters and no cluster
// lookup.
func NewNodeServer(t *testing.T, clusters *clusterconfig.Store, stateDir string) *node.Server {
	return NewNodeServerWithLookup(t, clusters, stateDir, nil)
}

// NewNodeServerWithLookup returns a node service with both mounters that
// looks up what old or ceph-csi volume contexts leave out (lookup may be
// nil).
func NewNodeServerWithLookup(t *testing.T, clusters *clusterconfig.Store, stateDir string, lookup node.Lookup) *node.Server {
	run := execx.OS{}
	n, err := node.New(node.Config{NodeID: NodeID, Clusters: clusters, StateDir: stateDir, DefaultMounter: volctx.MounterFuse,
		Lookup: lookup,
		Mounters: map[string]host.Mounter{
			volctx.MounterFuse:   &host.Fuse{Exec: run},
			volctx.MounterKernel: &host.Kernel{Exec: run},
		}})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *Env) dial() {
	deadline := time.Now().Add(10 * time.Second)
	for {
		if fi, err := os.Lstat(e.Socket); err == nil && fi.Mode()&os.ModeSocket != 0 {
			break
		}
		if time.Now().After(deadline) {
			e.T.Fatalf("socket %s did not appear", e.Socket)
		}
		time.Sleep(10 * time.Millisecond)
	}
	conn, err := grpc.NewClient("unix://"+e.Socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		e.T.Fatal(err)
	}
	e.T.Cleanup(func() { conn.Close() })
	e.Conn, e.Ctrl, e.Node = conn, csi.NewControllerClient(conn), csi.NewNodeClient(conn)
	e.GroupCtrl = csi.NewGroupControllerClient(conn)
}

// audit runs when the test ends: the group must hold no subvolume (nor
// retained one), the journals no key, and the namespace no object that was
// not there before, except the three journal directories, which it removes
// with the group.
func (e *Env) audit() {
	t := e.T
	ctx := context.Background()
	e.waitRetainedPurged()
	if subs, err := e.Admin.ListSubvolumes(ctx, FSName, e.Group); err != nil && !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("audit: list subvolumes of %s: %v", e.Group, err)
	} else if len(subs) > 0 {
		t.Errorf("audit: subvolume group %s is not empty: %v", e.Group, subs)
		e.describe(subs)
	}
	dirs := []string{"csi.volumes." + e.Instance, "csi.snaps." + e.Instance, "csi.groups." + e.Instance}
	for _, d := range dirs {
		keys, err := e.Store.ListOmap(ctx, d, "")
		if err != nil && !errors.Is(err, journal.ErrObjectNotFound) {
			t.Errorf("audit: read %s: %v", d, err)
		} else if len(keys) > 0 {
			t.Errorf("audit: journal %s still holds %v", d, keys)
		}
	}
	if extra := difference(e.Objects(), append(e.before, dirs...)); len(extra) > 0 {
		t.Errorf("audit: objects left in %s namespace %q: %v", e.FS.MetadataPool, Namespace, extra)
	}
	if t.Failed() {
		t.Logf("audit: keeping group %s and journal instance %s for inspection", e.Group, e.Instance)
		return
	}
	for _, d := range dirs {
		if err := e.Store.Remove(ctx, d); err != nil {
			t.Errorf("audit: remove %s: %v", d, err)
		}
	}
	if err := e.Admin.RemoveGroup(ctx, FSName, e.Group); err != nil {
		t.Errorf("audit: remove group %s: %v", e.Group, err)
	}
}

// waitRetainedPurged waits (up to a minute) while the group holds only
// retained subvolumes without snapshots: Ceph removes such a subvolume with
// its last snapshot, but only once the purge of its deleted data finished.
func (e *Env) waitRetainedPurged() {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) && e.onlyPurgeableLeft() {
		time.Sleep(500 * time.Millisecond)
	}
}

func (e *Env) onlyPurgeableLeft() bool {
	ctx := context.Background()
	subs, err := e.Admin.ListSubvolumes(ctx, FSName, e.Group)
	if err != nil || len(subs) == 0 {
		return false
	}
	for _, s := range subs {
		ref := backend.SubvolumeRef{FS: FSName, Group: e.Group, Name: s}
		info, err := e.Admin.SubvolumeInfo(ctx, ref)
		snaps, serr := e.Admin.ListSnapshots(ctx, ref)
		if err != nil || serr != nil || info.State != backend.StateRetained || len(snaps) > 0 {
			return false
		}
	}
	return true
}

func (e *Env) describe(subs []string) {
	for _, s := range subs {
		ref := backend.SubvolumeRef{FS: FSName, Group: e.Group, Name: s}
		info, err := e.Admin.SubvolumeInfo(context.Background(), ref)
		snaps, _ := e.Admin.ListSnapshots(context.Background(), ref)
		e.T.Logf("audit: %s: %+v %v snapshots %v", s, info, err, snaps)
	}
}

func difference(after, allowed []string) []string {
	var out []string
	for _, o := range after {
		if !slices.Contains(allowed, o) {
			out = append(out, o)
		}
	}
	return out
}

// Ctx returns a context for one call.
func (e *Env) Ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	e.T.Cleanup(cancel)
	return ctx
}

// MustHave fails the test if s lacks want.
func MustHave(t *testing.T, s, want string) {
	t.Helper()
	if !strings.Contains(s, want) {
		t.Fatalf("%q does not contain %q", s, want)
	}
}

// restart stops the driver and starts a new one on the same socket and
// state directory, as a restarted plugin would.
func (e *Env) Restart() {
	e.Conn.Close()
	e.stop()
	e.stop = nil
	e.start()
}
