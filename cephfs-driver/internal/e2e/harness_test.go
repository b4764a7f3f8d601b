// Package e2e holds the tests of the whole driver against the real cluster
// of test/cluster.sh: csi-sanity and the integration scenarios. Each test
// gets its own subvolume group and journal instance, and checks at the end
// that the group is empty and that it left nothing in the metadata pool's
// csi namespace; then it removes its group.
package e2e

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
	fsName    = "cephfs"
	namespace = clusterconfig.DefaultCephFSRadosNamespace
	nodeID    = "e2e-node"
)

// env is one test's driver and its view of the cluster.
type env struct {
	t        *testing.T
	cluster  *testcluster.Cluster
	group    string
	instance string
	config   string
	socket   string
	conn     *grpc.ClientConn
	ctrl     csi.ControllerClient
	node     csi.NodeClient
	admin    backend.Backend
	store    journal.ObjectStore
	fs       backend.FileSystem
	tmp      string
	// before is the namespace's object list when the test started.
	before []string
	stop   func()
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// adminSecrets are the provisioner secrets.
func (e *env) adminSecrets() map[string]string {
	return map[string]string{credentials.AdminIDField: e.cluster.AdminID, credentials.AdminKeyField: e.cluster.AdminKey}
}

// nodeSecrets are node-stage secrets as ceph-csi users write them.
func (e *env) nodeSecrets() map[string]string {
	return map[string]string{credentials.UserIDField: e.cluster.AdminID, credentials.UserKeyField: e.cluster.AdminKey}
}

// params are StorageClass parameters for the test's cluster.
func (e *env) params(extra ...string) map[string]string {
	p := map[string]string{volctx.ClusterID: e.cluster.FSID, volctx.FSName: fsName, volctx.Mounter: volctx.MounterFuse,
		"csi.storage.k8s.io/pvc/name": "e2e", "csi.storage.k8s.io/pvc/namespace": "default"}
	for i := 0; i+1 < len(extra); i += 2 {
		p[extra[i]] = extra[i+1]
	}
	return p
}

// newEnv starts the driver (all services, fuse mounter for real, kernel
// mounter too though it cannot work here) on a unix socket with a cluster
// configuration naming a fresh subvolume group.
func newEnv(t *testing.T, opts ...func(*controller.Config)) *env {
	t.Helper()
	c := testcluster.Get(t)
	e := &env{t: t, cluster: c, group: "csi-test-" + randomHex(t, 4), instance: "e2e-" + randomHex(t, 4), tmp: t.TempDir()}
	e.writeConfig()
	e.openCluster()
	e.before = e.objects()
	t.Cleanup(e.audit)
	e.start(opts...)
	return e
}

func (e *env) writeConfig() {
	cfg := []clusterconfig.Cluster{{
		ClusterID: e.cluster.FSID, Monitors: e.cluster.Monitors,
		CephFS: clusterconfig.CephFSConfig{SubvolumeGroup: e.group, RadosNamespace: namespace},
	}}
	data, err := json.Marshal(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.config = filepath.Join(e.tmp, "config.json")
	if err := os.WriteFile(e.config, data, 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// openCluster opens the test's own admin view of the cluster.
func (e *env) openCluster() {
	t := e.t
	pool := cephconn.NewPool(cephconn.Options{CommandTimeout: -1})
	t.Cleanup(pool.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pool.Get(ctx, cephconn.Target{ClusterID: e.cluster.FSID, Monitors: e.cluster.Monitors,
		Creds: &credentials.Credentials{ID: e.cluster.AdminID, Key: e.cluster.AdminKey}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Release)
	e.admin = cephfs.New(conn.Conn)
	fss, err := e.admin.FileSystems(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(fss, func(f backend.FileSystem) bool { return f.Name == fsName })
	if i < 0 {
		t.Fatalf("no file system %q in %+v", fsName, fss)
	}
	e.fs = fss[i]
	store, err := cephconn.NewObjectStore(conn.Conn, e.fs.MetadataPool, namespace)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Destroy)
	e.store = store
}

func (e *env) objects() []string {
	names, err := e.store.ListObjects(context.Background(), "")
	if err != nil {
		e.t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

// start serves the driver on a unix socket until the test ends.
func (e *env) start(opts ...func(*controller.Config)) {
	t := e.t
	level := zap.WarnLevel
	if v := os.Getenv("E2E_LOG_LEVEL"); v != "" {
		_ = level.Set(v)
	}
	logger := zaptest.NewLogger(t, zaptest.Level(level))
	clusters := clusterconfig.NewStore(e.config)
	pool := cephconn.NewPool(cephconn.Options{CommandTimeout: -1})
	cfg := controller.Config{Connector: cephfs.NewConnector(pool), Clusters: clusters, InstanceID: e.instance,
		ClonePoll: 100 * time.Millisecond, MaxClonePoll: 500 * time.Millisecond}
	for _, o := range opts {
		o(&cfg)
	}
	ctrl, err := controller.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := newNodeServer(t, clusters, filepath.Join(e.tmp, "node-state"))
	ids, err := identity.New(identity.Config{Name: "cephfs.csi.ceph.com", Version: "e2e", Capabilities: []*csi.PluginCapability{
		identity.ServiceCapability(csi.PluginCapability_Service_CONTROLLER_SERVICE)}})
	if err != nil {
		t.Fatal(err)
	}
	e.socket = filepath.Join(e.tmp, "csi.sock")
	srv, err := csiserver.New(csiserver.Config{Endpoint: "unix://" + e.socket, Logger: logger, DriverName: "cephfs.csi.ceph.com",
		Identity: ids, Controller: ctrl, Node: n})
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

func newNodeServer(t *testing.T, clusters *clusterconfig.Store, stateDir string) *node.Server {
	run := execx.OS{}
	n, err := node.New(node.Config{NodeID: nodeID, Clusters: clusters, StateDir: stateDir, DefaultMounter: volctx.MounterFuse,
		Mounters: map[string]host.Mounter{
			volctx.MounterFuse:   &host.Fuse{Exec: run},
			volctx.MounterKernel: &host.Kernel{Exec: run},
		}})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *env) dial() {
	deadline := time.Now().Add(10 * time.Second)
	for {
		if fi, err := os.Lstat(e.socket); err == nil && fi.Mode()&os.ModeSocket != 0 {
			break
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("socket %s did not appear", e.socket)
		}
		time.Sleep(10 * time.Millisecond)
	}
	conn, err := grpc.NewClient("unix://"+e.socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	e.conn, e.ctrl, e.node = conn, csi.NewControllerClient(conn), csi.NewNodeClient(conn)
}

// audit runs when the test ends: the group must hold no subvolume (nor
// retained one), the journals no key, and the namespace no object that was
// not there before, except the two journal directories, which it removes
// with the group.
func (e *env) audit() {
	t := e.t
	ctx := context.Background()
	e.waitRetainedPurged()
	if subs, err := e.admin.ListSubvolumes(ctx, fsName, e.group); err != nil && !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("audit: list subvolumes of %s: %v", e.group, err)
	} else if len(subs) > 0 {
		t.Errorf("audit: subvolume group %s is not empty: %v", e.group, subs)
		e.describe(subs)
	}
	dirs := []string{"csi.volumes." + e.instance, "csi.snaps." + e.instance}
	for _, d := range dirs {
		keys, err := e.store.ListOmap(ctx, d, "")
		if err != nil && !errors.Is(err, journal.ErrObjectNotFound) {
			t.Errorf("audit: read %s: %v", d, err)
		} else if len(keys) > 0 {
			t.Errorf("audit: journal %s still holds %v", d, keys)
		}
	}
	if extra := difference(e.objects(), append(e.before, dirs...)); len(extra) > 0 {
		t.Errorf("audit: objects left in %s namespace %q: %v", e.fs.MetadataPool, namespace, extra)
	}
	if t.Failed() {
		t.Logf("audit: keeping group %s and journal instance %s for inspection", e.group, e.instance)
		return
	}
	for _, d := range dirs {
		if err := e.store.Remove(ctx, d); err != nil {
			t.Errorf("audit: remove %s: %v", d, err)
		}
	}
	if err := e.admin.RemoveGroup(ctx, fsName, e.group); err != nil {
		t.Errorf("audit: remove group %s: %v", e.group, err)
	}
}

// waitRetainedPurged waits (up to a minute) while the group holds only
// retained subvolumes without snapshots: Ceph removes such a subvolume with
// its last snapshot, but only once the purge of its deleted data finished.
func (e *env) waitRetainedPurged() {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) && e.onlyPurgeableLeft() {
		time.Sleep(500 * time.Millisecond)
	}
}

func (e *env) onlyPurgeableLeft() bool {
	ctx := context.Background()
	subs, err := e.admin.ListSubvolumes(ctx, fsName, e.group)
	if err != nil || len(subs) == 0 {
		return false
	}
	for _, s := range subs {
		ref := backend.SubvolumeRef{FS: fsName, Group: e.group, Name: s}
		info, err := e.admin.SubvolumeInfo(ctx, ref)
		snaps, serr := e.admin.ListSnapshots(ctx, ref)
		if err != nil || serr != nil || info.State != backend.StateRetained || len(snaps) > 0 {
			return false
		}
	}
	return true
}

func (e *env) describe(subs []string) {
	for _, s := range subs {
		ref := backend.SubvolumeRef{FS: fsName, Group: e.group, Name: s}
		info, err := e.admin.SubvolumeInfo(context.Background(), ref)
		snaps, _ := e.admin.ListSnapshots(context.Background(), ref)
		e.t.Logf("audit: %s: %+v %v snapshots %v", s, info, err, snaps)
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

// ctx returns a context for one call.
func (e *env) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	e.t.Cleanup(cancel)
	return ctx
}

// mustHave fails the test if s lacks want.
func mustHave(t *testing.T, s, want string) {
	t.Helper()
	if !strings.Contains(s, want) {
		t.Fatalf("%q does not contain %q", s, want)
	}
}

// restart stops the driver and starts a new one on the same socket and
// state directory, as a restarted plugin would.
func (e *env) restart() {
	e.conn.Close()
	e.stop()
	e.stop = nil
	e.start()
}
