// Package reliability proves that the CephFS driver converges after it is
// killed at any step between two Ceph writes, that twin requests racing in
// two driver processes yield one volume, and that a churn of creates and
// deletes leaves the cluster as it was and the driver's memory flat. The tests run the real driver binary (CEPHFS_DRIVER_BINARY, else a
// fresh build of ./cmd/cephfs-driver) as a child process in controller mode
// against the cluster of test/cluster.sh.
//
// Each test gets a rig of its own: a subvolume group, a journal instance and
// a RADOS namespace in the metadata pool that nothing else uses, so that its
// audits are exact (no subvolume, snapshot, journal key or object of any
// kind left) and cannot see, or disturb, other tests running meanwhile.
package reliability

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/cephfs"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/volctx"
	"github.com/seed-6a310834/ceph-csi/shared/cephconn"
	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/driverproc"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/testcluster"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

const (
	fsName = "cephfs"
	mib    = int64(1) << 20
	// binaryEnv names the driver binary to run (the Makefile points it at
	// bin/cephfs-driver); unset, the test builds one.
	binaryEnv = "CEPHFS_DRIVER_BINARY"
	// callTimeout bounds one CSI call (a clone takes a few seconds).
	callTimeout = 90 * time.Second
	// settleTimeout bounds the waits for Ceph's background work: the purge
	// of retained subvolumes, the detach of completed clones.
	settleTimeout = 90 * time.Second
)

// defaultParallel is how many tests of the package run in parallel unless
// -parallel says otherwise: they wait on Ceph, not on the CPU.
const defaultParallel = "4"

func TestMain(m *testing.M) {
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		if err := flag.Set("test.parallel", defaultParallel); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	code := m.Run()
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// built is the driver binary this package builds, once for all its tests,
// when binaryEnv is unset.
var built struct {
	once      sync.Once
	dir, path string
	err       error
}

// driverBinary returns the driver binary: binaryEnv's, else a fresh build
// of ./cmd/cephfs-driver (driverproc.Binary would build once per test).
func driverBinary(t *testing.T) string {
	t.Helper()
	if os.Getenv(binaryEnv) != "" {
		return driverproc.Binary(t, binaryEnv, "", "", "")
	}
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "reliability-bin"); built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "cephfs-driver")
		cmd := exec.Command("go", "build", "-tags", "pacific", "-o", built.path, "./cmd/cephfs-driver")
		cmd.Dir = "../.."
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build ./cmd/cephfs-driver: %w\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

// rig is one test's driver configuration and its own admin view of the
// cluster.
type rig struct {
	t         *testing.T
	cluster   *testcluster.Cluster
	binary    string
	group     string
	instance  string
	namespace string
	config    string
	dir       string   // short directory for the driver sockets
	args      []string // further driver arguments
	fsID      int64
	admin     *cephfs.Admin
	store     journal.ObjectStore
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// newRig prepares a group, instance and namespace of the test's own and
// registers the final audit: when the test ends, they must be empty.
func newRig(t *testing.T) *rig {
	t.Helper()
	c := testcluster.Get(t)
	suffix := randomHex(t, 4)
	r := &rig{t: t, cluster: c, group: "csi-rel-" + suffix, instance: "rel-" + suffix, namespace: "csi-rel-" + suffix}
	r.binary = driverBinary(t)
	dir, err := os.MkdirTemp("", "rel") // unix socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	r.dir = dir
	r.writeConfig()
	r.openCluster()
	t.Cleanup(r.finalAudit)
	return r
}

func (r *rig) writeConfig() {
	cfg := []clusterconfig.Cluster{{
		ClusterID: r.cluster.FSID, Monitors: r.cluster.Monitors,
		CephFS: clusterconfig.CephFSConfig{SubvolumeGroup: r.group, RadosNamespace: r.namespace},
	}}
	data, err := json.Marshal(cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	r.config = filepath.Join(r.t.TempDir(), "config.json")
	if err := os.WriteFile(r.config, data, 0o600); err != nil {
		r.t.Fatal(err)
	}
}

// openCluster opens the test's own admin connection: the backend for
// subvolumes and snapshots, the object store for the journal namespace.
func (r *rig) openCluster() {
	t := r.t
	pool := cephconn.NewPool(cephconn.Options{CommandTimeout: -1})
	t.Cleanup(pool.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pool.Get(ctx, cephconn.Target{ClusterID: r.cluster.FSID, Monitors: r.cluster.Monitors,
		Creds: &credentials.Credentials{ID: r.cluster.AdminID, Key: r.cluster.AdminKey}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Release)
	r.admin = cephfs.New(conn.Conn)
	fss, err := r.admin.FileSystems(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(fss, func(f backend.FileSystem) bool { return f.Name == fsName })
	if i < 0 {
		t.Fatalf("no file system %q in %+v", fsName, fss)
	}
	r.fsID = fss[i].ID
	store, err := cephconn.NewObjectStore(conn.Conn, fss[i].MetadataPool, r.namespace)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Destroy)
	r.store = store
}

// driver is a running driver process and its controller client.
type driver struct {
	*driverproc.Proc
	ctrl client
}

// client is the driver's Controller and GroupController services. A call
// gets it as a csi.ControllerClient (the type killround uses); group calls
// reach the GroupController through groupClient.
type client interface {
	csi.ControllerClient
	csi.GroupControllerClient
}

// start runs the driver in controller mode on the socket named name (in
// the rig's directory), with env added to its environment.
func (r *rig) start(name string, env ...string) *driver {
	r.t.Helper()
	p := driverproc.Start(r.t, driverproc.Options{
		Binary: r.binary,
		Args: append([]string{"--mode=controller", "--cluster-config=" + r.config, "--instance-id=" + r.instance,
			"--log-format=console"}, r.args...),
		Env:    env,
		Socket: filepath.Join(r.dir, name+".sock"),
	})
	conn := p.Conn(r.t)
	return &driver{Proc: p, ctrl: struct {
		csi.ControllerClient
		csi.GroupControllerClient
	}{csi.NewControllerClient(conn), csi.NewGroupControllerClient(conn)}}
}

// stop ends a driver cleanly.
func (d *driver) stop(t *testing.T) {
	t.Helper()
	if err := d.Stop(10 * time.Second); err != nil {
		t.Errorf("driver did not stop cleanly: %v\n%s", err, d.Log())
	}
}

func callCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), callTimeout)
}

// Requests.

var rwx = &csi.VolumeCapability{
	AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
	AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER},
}

func (r *rig) secrets() map[string]string {
	return map[string]string{credentials.AdminIDField: r.cluster.AdminID, credentials.AdminKeyField: r.cluster.AdminKey}
}

func (r *rig) createVolumeRequest(name string, size int64, src *csi.VolumeContentSource) *csi.CreateVolumeRequest {
	return &csi.CreateVolumeRequest{
		Name: name, CapacityRange: &csi.CapacityRange{RequiredBytes: size},
		VolumeCapabilities: []*csi.VolumeCapability{rwx}, VolumeContentSource: src, Secrets: r.secrets(),
		Parameters: map[string]string{volctx.ClusterID: r.cluster.FSID, volctx.FSName: fsName, volctx.Mounter: volctx.MounterFuse},
	}
}

func (r *rig) createSnapshotRequest(name, volID string) *csi.CreateSnapshotRequest {
	return &csi.CreateSnapshotRequest{Name: name, SourceVolumeId: volID, Secrets: r.secrets(),
		Parameters: map[string]string{volctx.ClusterID: r.cluster.FSID}}
}

// call is one CSI request; it returns the ID it produced ("" for deletes).
type call func(ctx context.Context, c csi.ControllerClient) (string, error)

func (r *rig) createVolume(name string, size int64, src *csi.VolumeContentSource) call {
	req := r.createVolumeRequest(name, size, src)
	return func(ctx context.Context, c csi.ControllerClient) (string, error) {
		resp, err := c.CreateVolume(ctx, req)
		return resp.GetVolume().GetVolumeId(), err
	}
}

func (r *rig) createSnapshot(name, volID string) call {
	req := r.createSnapshotRequest(name, volID)
	return func(ctx context.Context, c csi.ControllerClient) (string, error) {
		resp, err := c.CreateSnapshot(ctx, req)
		return resp.GetSnapshot().GetSnapshotId(), err
	}
}

func (r *rig) deleteVolume(id string) call {
	req := &csi.DeleteVolumeRequest{VolumeId: id, Secrets: r.secrets()}
	return func(ctx context.Context, c csi.ControllerClient) (string, error) {
		_, err := c.DeleteVolume(ctx, req)
		return "", err
	}
}

func (r *rig) deleteSnapshot(id string) call {
	req := &csi.DeleteSnapshotRequest{SnapshotId: id, Secrets: r.secrets()}
	return func(ctx context.Context, c csi.ControllerClient) (string, error) {
		_, err := c.DeleteSnapshot(ctx, req)
		return "", err
	}
}

// must runs c once and fails the test on any error.
func (r *rig) must(d *driver, what string, c call) string {
	r.t.Helper()
	ctx, cancel := callCtx()
	defer cancel()
	id, err := c(ctx, d.ctrl)
	if err != nil {
		r.t.Fatalf("%s: %v\n%s", what, err, d.Log())
	}
	return id
}

// retry runs c until it succeeds; Aborted (a clone still copying, a lock
// held) is retried, any other error fails the test.
func (r *rig) retry(d *driver, what string, c call) string {
	r.t.Helper()
	deadline := time.Now().Add(2 * callTimeout)
	for {
		ctx, cancel := callCtx()
		id, err := c(ctx, d.ctrl)
		cancel()
		if err == nil {
			return id
		}
		if status.Code(err) != codes.Aborted || time.Now().After(deadline) {
			r.t.Fatalf("%s: %v\n%s", what, err, d.Log())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// The cluster state a rig audits.

// subvolume is a subvolume's state, quota (0: none, or retained) and
// snapshots.
type subvolume struct {
	State     backend.SubvolumeState
	Quota     int64
	Snapshots []string
}

// state is everything of the rig's on the cluster: the group's subvolumes
// with their snapshots, the journal directories' keys, and every other
// object in the rig's namespace.
type state struct {
	Subvolumes map[string]subvolume
	Volumes    []string // keys of csi.volumes.<instance>
	Snapshots  []string // keys of csi.snaps.<instance>
	Groups     []string // keys of csi.groups.<instance>
	Objects    []string // objects besides the three directories
}

func (s state) clone() state {
	out := state{Subvolumes: maps.Clone(s.Subvolumes), Volumes: slices.Clone(s.Volumes),
		Snapshots: slices.Clone(s.Snapshots), Groups: slices.Clone(s.Groups), Objects: slices.Clone(s.Objects)}
	if out.Subvolumes == nil {
		out.Subvolumes = map[string]subvolume{}
	}
	return out
}

// String is the canonical form states are compared in.
func (s state) String() string {
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(s.Subvolumes)) {
		sv := s.Subvolumes[name]
		fmt.Fprintf(&b, "subvolume %s %s quota %d snapshots %v\n", name, sv.State, sv.Quota,
			slices.Sorted(slices.Values(sv.Snapshots)))
	}
	fmt.Fprintf(&b, "volume keys %v\nsnapshot keys %v\ngroup keys %v\nobjects %v\n", slices.Sorted(slices.Values(s.Volumes)),
		slices.Sorted(slices.Values(s.Snapshots)), slices.Sorted(slices.Values(s.Groups)), slices.Sorted(slices.Values(s.Objects)))
	return b.String()
}

func (r *rig) volumesDir() string   { return "csi.volumes." + r.instance }
func (r *rig) snapshotsDir() string { return "csi.snaps." + r.instance }
func (r *rig) groupsDir() string    { return "csi.groups." + r.instance }

// state reads the rig's state from the cluster. Each subvolume costs two
// mgr commands, and Pacific's mgr runs every subvolume command under one
// global lock: audits compete with the drivers, so they read sparingly.
func (r *rig) state() (state, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st := state{Subvolumes: map[string]subvolume{}}
	names, err := r.admin.ListSubvolumes(ctx, fsName, r.group)
	if err != nil && !errors.Is(err, backend.ErrNotFound) {
		return st, err
	}
	for _, n := range names {
		ref := backend.SubvolumeRef{FS: fsName, Group: r.group, Name: n}
		info, err := r.admin.SubvolumeInfo(ctx, ref)
		if err != nil {
			return st, err
		}
		snaps, err := r.admin.ListSnapshots(ctx, ref)
		if err != nil {
			return st, err
		}
		st.Subvolumes[n] = subvolume{State: info.State, Quota: info.Quota, Snapshots: snaps}
	}
	if st.Volumes, err = r.keys(ctx, r.volumesDir()); err != nil {
		return st, err
	}
	if st.Snapshots, err = r.keys(ctx, r.snapshotsDir()); err != nil {
		return st, err
	}
	if st.Groups, err = r.keys(ctx, r.groupsDir()); err != nil {
		return st, err
	}
	objs, err := r.store.ListObjects(ctx, "")
	if err != nil {
		return st, err
	}
	for _, o := range objs {
		if o != r.volumesDir() && o != r.snapshotsDir() && o != r.groupsDir() {
			st.Objects = append(st.Objects, o)
		}
	}
	return st, nil
}

func (r *rig) keys(ctx context.Context, dir string) ([]string, error) {
	kv, err := r.store.ListOmap(ctx, dir, "")
	if errors.Is(err, journal.ErrObjectNotFound) {
		return nil, nil
	}
	return slices.Collect(maps.Keys(kv)), err
}

// mustState reads the state or fails the test.
func (r *rig) mustState() state {
	r.t.Helper()
	st, err := r.state()
	if err != nil {
		r.t.Fatalf("read cluster state: %v", err)
	}
	return st
}

// waitState waits until the cluster is in state want: Ceph removes a
// retained subvolume with its last snapshot only once the purge of its
// data finished. The timeout is a safety bound, not a measurement.
func (r *rig) waitState(what string, want state) {
	r.t.Helper()
	deadline := time.Now().Add(settleTimeout)
	for {
		got, err := r.state()
		if err == nil && got.String() == want.String() {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s: cluster state\n%s(read error %v)\nwant\n%s", what, got, err, want)
		}
		time.Sleep(time.Second) // every read takes Ceph's mgr lock (see state)
	}
}

// waitDetached waits until snapshot snapID of volume volID lists no
// pending clone. The driver answers CreateVolume as soon as Ceph reports
// the clone complete, but Pacific's mgr detaches the clone from its source
// snapshot a moment later; a clone removed in between is never detached:
// the snapshot cannot be deleted any more, and the mgr's cloner retries
// the vanished clone for ever, which starves every later clone on the
// cluster. Until the driver waits for the detach itself, the tests wait
// before they delete a clone of a snapshot.
func (r *rig) waitDetached(volID, snapID string) {
	r.t.Helper()
	ref := backend.SnapshotRef{SubvolumeRef: backend.SubvolumeRef{FS: fsName, Group: r.group, Name: subvolumeOf(r.t, volID)},
		Snapshot: snapshotOf(r.t, snapID)}
	deadline := time.Now().Add(settleTimeout)
	for {
		ctx, cancel := callCtx()
		info, err := r.admin.SnapshotInfo(ctx, ref)
		cancel()
		if err == nil && !info.HasPendingClones {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("snapshot %s still has pending clones (%v)", ref, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// finalAudit: the rig's group, journal and namespace are empty when the
// test ends; then the directories and the group are removed.
func (r *rig) finalAudit() {
	if r.t.Failed() {
		r.t.Logf("audit skipped after a failure: group %s, instance %s, namespace %s kept for inspection",
			r.group, r.instance, r.namespace)
		return
	}
	r.waitState("final audit", state{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, d := range []string{r.volumesDir(), r.snapshotsDir(), r.groupsDir()} {
		if err := r.store.Remove(ctx, d); err != nil {
			r.t.Errorf("remove %s: %v", d, err)
		}
	}
	if err := r.admin.RemoveGroup(ctx, fsName, r.group); err != nil {
		r.t.Errorf("remove group %s: %v", r.group, err)
	}
}

// Expected states.

func uuidOf(t *testing.T, id string) string {
	t.Helper()
	parsed, err := volid.Decode(id)
	if err != nil {
		t.Fatalf("decode ID %q: %v", id, err)
	}
	return parsed.UUID
}

func subvolumeOf(t *testing.T, volID string) string { return "csi-vol-" + uuidOf(t, volID) }

func snapshotOf(t *testing.T, snapID string) string { return "csi-snap-" + uuidOf(t, snapID) }

// withVolume is st plus volume volID of quota size created under name.
func withVolume(t *testing.T, st state, name, volID string, size int64) state {
	out := st.clone()
	out.Subvolumes[subvolumeOf(t, volID)] = subvolume{State: backend.StateComplete, Quota: size}
	out.Volumes = append(out.Volumes, "csi.volume."+name)
	out.Objects = append(out.Objects, "csi.volume."+uuidOf(t, volID))
	return out
}

// withSnapshot is st plus snapshot snapID of volume volID created under
// name.
func withSnapshot(t *testing.T, st state, name, snapID, volID string) state {
	out := st.clone()
	sv := out.Subvolumes[subvolumeOf(t, volID)]
	sv.Snapshots = append(slices.Clone(sv.Snapshots), snapshotOf(t, snapID))
	out.Subvolumes[subvolumeOf(t, volID)] = sv
	out.Snapshots = append(out.Snapshots, "csi.snap."+name)
	out.Objects = append(out.Objects, "csi.snap."+uuidOf(t, snapID))
	return out
}

// withRetained is st after the volume volID (created under name) was
// deleted while it had snapshots: its subvolume stays, retained.
func withRetained(t *testing.T, st state, name, volID string) state {
	out := st.clone()
	sv := out.Subvolumes[subvolumeOf(t, volID)]
	sv.State, sv.Quota = backend.StateRetained, 0
	out.Subvolumes[subvolumeOf(t, volID)] = sv
	out.Volumes = slices.DeleteFunc(out.Volumes, func(k string) bool { return k == "csi.volume."+name })
	out.Objects = slices.DeleteFunc(out.Objects, func(o string) bool { return o == "csi.volume."+uuidOf(t, volID) })
	return out
}

// groupClient returns the GroupController client of a driver's client.
func groupClient(c csi.ControllerClient) csi.GroupControllerClient {
	g, ok := c.(csi.GroupControllerClient)
	if !ok {
		panic("reliability: the controller client has no GroupController")
	}
	return g
}
