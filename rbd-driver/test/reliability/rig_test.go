// Package reliability proves that the RBD driver converges and leaks
// nothing when it is killed between two Ceph writes, when twin requests
// race inside one process and across two, and under a long create/delete
// churn. The real driver binary runs as a child process (shared/driverproc)
// in controller mode against the test cluster (test/cluster.sh); every test
// works in a pool of its own and ends with that pool back to its initial
// state: no image, no trash entry, no mgr task, no journal key and no
// csi.volume.* / csi.snap.* object.
package reliability

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/cephrbd/cephrbdtest"
	"github.com/seed-6a310834/ceph-csi/shared/driverproc"
	"github.com/seed-6a310834/ceph-csi/shared/testcluster"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

const (
	// binaryEnv names the driver binary; without it the test builds one.
	binaryEnv = "RBD_DRIVER_BINARY"
	// instance is the journal instance of every driver the tests start.
	instance = "rel"
	// drainTimeout bounds the wait for the mgr to purge the trash. The mgr
	// runs the purge tasks of the whole cluster one after another, and in
	// `make test` the churn's 1,000 purges share that queue with the other
	// tiers running in parallel: a safety net, not a speed assertion.
	drainTimeout = 6 * time.Minute
	// rpcTimeout bounds one CSI call (a safety net, not an assertion).
	rpcTimeout = time.Minute
	// retryTimeout bounds the repetition of a request answered Aborted.
	retryTimeout = time.Minute
	mib          = int64(1) << 20
)

// rig is one test's pool and the driver binary to run against it.
type rig struct {
	t       *testing.T
	cl      *testcluster.Cluster
	admin   *cephrbdtest.Admin
	pool    string
	bin     string
	secrets map[string]string
}

var notPoolChar = regexp.MustCompile(`[^a-z0-9-]+`)

// poolName is deterministic, so that a run killed before its cleanup has
// its leftover pool replaced by the next run.
func poolName(t *testing.T) string {
	return "csi-rbd-rel-" + notPoolChar.ReplaceAllString(strings.ToLower(strings.TrimPrefix(t.Name(), "Test")), "-")
}

// driverBinary is the driver under test: $RBD_DRIVER_BINARY (the Makefile
// points it at bin/rbd-driver) or a fresh build of ./cmd/rbd-driver.
func driverBinary(t *testing.T) string {
	t.Helper()
	testcluster.Get(t) // skip (or fail) before building when there is no cluster
	return driverproc.Binary(t, binaryEnv, "../..", "./cmd/rbd-driver", "pacific")
}

// newRig creates the test's pool for driver binary bin; the cleanup asserts
// that the pool is back to its initial state (after the mgr drained the
// trash) and deletes it.
func newRig(t *testing.T, bin string) *rig {
	t.Helper()
	cl := testcluster.Get(t)
	r := &rig{t: t, cl: cl, admin: cephrbdtest.Conn(t, cl), pool: poolName(t), bin: bin,
		secrets: map[string]string{"userID": cl.AdminID, "userKey": cl.AdminKey}}
	r.admin.CreatePool(t, r.pool)
	t.Cleanup(func() {
		if !t.Failed() {
			r.waitEmpty()
		}
		if err := r.admin.DeletePool(r.pool); err != nil {
			t.Errorf("delete pool %s: %v", r.pool, err)
		}
	})
	return r
}

// driver is a running driver process and its Controller client (a
// clients, whose GroupController client the group snapshot calls use).
type driver struct {
	*driverproc.Proc
	csi csi.ControllerClient
}

// clients are the Controller and GroupController clients of one
// connection; calls of type call get them as a csi.ControllerClient.
type clients struct {
	csi.ControllerClient
	group csi.GroupControllerClient
}

// groupClient returns the GroupController client of a driver's clients.
func groupClient(c csi.ControllerClient) csi.GroupControllerClient { return c.(clients).group }

// start runs the driver in controller mode on socket ("" for a new one)
// with the extra flags and environment given.
func (r *rig) start(socket string, flags []string, env ...string) *driver {
	r.t.Helper()
	args := append([]string{"--mode=controller", "--cluster-config=" + r.cl.CSIConfig,
		"--instance-id=" + instance, "--log-format=console"}, flags...)
	p := driverproc.Start(r.t, driverproc.Options{Binary: r.bin, Args: args, Env: env, Socket: socket})
	conn := p.Conn(r.t)
	return &driver{Proc: p, csi: clients{ControllerClient: csi.NewControllerClient(conn),
		group: csi.NewGroupControllerClient(conn)}}
}

// stop ends a driver cleanly (SIGTERM): its queued background purges run
// first, as they would in a rolling update.
func (d *driver) stop(t *testing.T) {
	t.Helper()
	if err := d.Stop(30 * time.Second); err != nil {
		t.Errorf("driver exit: %v\n%s", err, d.Log())
	}
}

func callCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), rpcTimeout)
}

func (r *rig) volReq(name string, size int64, src *csi.VolumeContentSource) *csi.CreateVolumeRequest {
	return &csi.CreateVolumeRequest{
		Name:          name,
		CapacityRange: &csi.CapacityRange{RequiredBytes: size},
		VolumeCapabilities: []*csi.VolumeCapability{{
			AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: "ext4"}},
			AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
		}},
		Parameters: map[string]string{"clusterID": r.cl.FSID, "pool": r.pool,
			"csi.storage.k8s.io/pvc/name": name, "csi.storage.k8s.io/pvc/namespace": "reliability"},
		VolumeContentSource: src,
		Secrets:             r.secrets,
	}
}

func (r *rig) snapReq(name, volID string) *csi.CreateSnapshotRequest {
	return &csi.CreateSnapshotRequest{Name: name, SourceVolumeId: volID, Secrets: r.secrets}
}

func (r *rig) delVolReq(id string) *csi.DeleteVolumeRequest {
	return &csi.DeleteVolumeRequest{VolumeId: id, Secrets: r.secrets}
}

func (r *rig) delSnapReq(id string) *csi.DeleteSnapshotRequest {
	return &csi.DeleteSnapshotRequest{SnapshotId: id, Secrets: r.secrets}
}

// createVolume creates a volume through d and fails the test on error.
func (r *rig) createVolume(d *driver, req *csi.CreateVolumeRequest) *csi.Volume {
	r.t.Helper()
	ctx, cancel := callCtx()
	defer cancel()
	resp, err := d.csi.CreateVolume(ctx, req)
	if err != nil {
		r.t.Fatalf("CreateVolume(%s): %v\n%s", req.GetName(), err, d.Log())
	}
	return resp.GetVolume()
}

func (r *rig) createSnapshot(d *driver, name, volID string) *csi.Snapshot {
	r.t.Helper()
	ctx, cancel := callCtx()
	defer cancel()
	resp, err := d.csi.CreateSnapshot(ctx, r.snapReq(name, volID))
	if err != nil {
		r.t.Fatalf("CreateSnapshot(%s): %v\n%s", name, err, d.Log())
	}
	return resp.GetSnapshot()
}

func (r *rig) deleteVolume(d *driver, id string) {
	r.t.Helper()
	ctx, cancel := callCtx()
	defer cancel()
	if _, err := d.csi.DeleteVolume(ctx, r.delVolReq(id)); err != nil {
		r.t.Fatalf("DeleteVolume(%s): %v\n%s", id, err, d.Log())
	}
}

func (r *rig) deleteSnapshot(d *driver, id string) {
	r.t.Helper()
	ctx, cancel := callCtx()
	defer cancel()
	if _, err := d.csi.DeleteSnapshot(ctx, r.delSnapReq(id)); err != nil {
		r.t.Fatalf("DeleteSnapshot(%s): %v\n%s", id, err, d.Log())
	}
}

// call is one request; it returns the ID it answered ("" for a delete).
type call func(ctx context.Context, c csi.ControllerClient) (string, error)

// retryAborted repeats call while it answers Aborted (an operation in
// progress, or a clone waiting for a flatten) and returns its last error.
func retryAborted(call func(ctx context.Context) error) error {
	deadline := time.Now().Add(retryTimeout)
	for {
		ctx, cancel := callCtx()
		err := call(ctx)
		cancel()
		if status.Code(err) != codes.Aborted || time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func image(v *csi.Volume) string { return v.GetVolumeContext()["imageName"] }

// uuidOf is the journal UUID inside a CSI ID.
func (r *rig) uuidOf(id string) string {
	r.t.Helper()
	vid, err := volid.Decode(id)
	if err != nil {
		r.t.Fatalf("decode %q: %v", id, err)
	}
	return vid.UUID
}

func (r *rig) audit() cephrbdtest.Contents {
	r.t.Helper()
	c, err := r.admin.Audit(r.pool, "")
	if err != nil {
		r.t.Fatalf("audit pool %s: %v", r.pool, err)
	}
	return c
}

// waitEmpty waits until the pool is back to its initial state: the mgr
// purges trashed images in the background.
func (r *rig) waitEmpty() {
	r.t.Helper()
	r.waitFor("back to its initial state", cephrbdtest.Contents.Empty)
}

// waitEmptyAfter is waitEmpty naming what came before.
func (r *rig) waitEmptyAfter(what string) {
	r.t.Helper()
	r.waitFor("back to its initial state after "+what, cephrbdtest.Contents.Empty)
}

// waitTrashEmpty waits until the mgr has purged the pool's trash. Deleting
// a clone's source only then spares the mgr a purge of the source that
// fails while the clone is still in the trash (retried after 30 s).
func (r *rig) waitTrashEmpty() {
	r.t.Helper()
	r.waitFor("without trash", func(c cephrbdtest.Contents) bool { return len(c.Trash) == 0 })
}

func (r *rig) waitFor(what string, done func(cephrbdtest.Contents) bool) {
	r.t.Helper()
	deadline := time.Now().Add(drainTimeout)
	for {
		c := r.audit()
		if done(c) {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("pool %s is not %s after %s: %v", r.pool, what, drainTimeout, c)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// records is what a pool's journals hold: request names in the
// directories and per-UUID objects.
type records struct {
	volNames, snapNames, groupNames []string
	volUUIDs, snapUUIDs, groupUUIDs []string
	// rbdGroups are the RBD group headers and group directory keys.
	rbdGroups []string
}

func recordsOf(c cephrbdtest.Contents) records {
	var j records
	volDir, snapDir := "csi.volumes."+instance+"[csi.volume.", "csi.snaps."+instance+"[csi.snap."
	groupDir := "csi.groups." + instance + "[csi.volume.group."
	for _, o := range c.Objects {
		switch {
		case strings.HasPrefix(o, groupDir):
			j.groupNames = append(j.groupNames, strings.TrimSuffix(strings.TrimPrefix(o, groupDir), "]"))
		case strings.HasPrefix(o, "csi.volume.group."):
			j.groupUUIDs = append(j.groupUUIDs, strings.TrimPrefix(o, "csi.volume.group."))
		case strings.HasPrefix(o, "rbd_group_"):
			j.rbdGroups = append(j.rbdGroups, o)
		case strings.HasPrefix(o, volDir):
			j.volNames = append(j.volNames, strings.TrimSuffix(strings.TrimPrefix(o, volDir), "]"))
		case strings.HasPrefix(o, snapDir):
			j.snapNames = append(j.snapNames, strings.TrimSuffix(strings.TrimPrefix(o, snapDir), "]"))
		case strings.HasPrefix(o, "csi.volume."):
			j.volUUIDs = append(j.volUUIDs, strings.TrimPrefix(o, "csi.volume."))
		case strings.HasPrefix(o, "csi.snap."):
			j.snapUUIDs = append(j.snapUUIDs, strings.TrimPrefix(o, "csi.snap."))
		}
	}
	return j
}

// expect states what the pool must hold, exactly; nil fields are not
// checked.
type expect struct {
	images    []string
	volNames  []string
	volUUIDs  []string
	snapNames []string
	snapUUIDs []string
	// groupNames and groupUUIDs are the group snapshot records; nil: none
	// may exist. No RBD group may ever be left.
	groupNames []string
	groupUUIDs []string
}

// check compares the pool with e and fails the test on any difference.
func (r *rig) check(e expect) {
	r.t.Helper()
	c := r.audit()
	j := recordsOf(c)
	for _, f := range []struct {
		what      string
		want, got []string
	}{
		{"images", e.images, c.Images},
		{"volume directory entries", e.volNames, j.volNames},
		{"volume UUID objects", e.volUUIDs, j.volUUIDs},
		{"snapshot directory entries", e.snapNames, j.snapNames},
		{"snapshot UUID objects", e.snapUUIDs, j.snapUUIDs},
		{"group snapshot directory entries", orNone(e.groupNames), j.groupNames},
		{"group snapshot UUID objects", orNone(e.groupUUIDs), j.groupUUIDs},
		{"RBD groups", []string{}, j.rbdGroups},
	} {
		if f.want != nil && !sameSet(f.want, f.got) {
			r.t.Errorf("pool %s: %s = %v, want %v (pool: %v)", r.pool, f.what, f.got, f.want, c)
		}
	}
}

func orNone(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func sameSet(a, b []string) bool {
	a, b = append([]string(nil), a...), append([]string(nil), b...)
	sort.Strings(a)
	sort.Strings(b)
	return fmt.Sprint(a) == fmt.Sprint(b)
}

// userSnapshots lists the user snapshots of an image.
func (r *rig) userSnapshots(name string) []string {
	r.t.Helper()
	img, err := r.admin.Describe(r.pool, "", name)
	if err != nil {
		r.t.Fatalf("describe %s: %v", name, err)
	}
	return img.Snapshots
}

// staleWatchSweep is the kill tier's answer to Ceph Pacific's watches that
// never time out (bug 58120, see cephrbdtest.StaleWatches): a driver killed
// while the OSD applies its watch op leaves one, and DeleteVolume of that
// image answers FailedPrecondition (in use) until the OSD reloads the
// object. The sweep looks every staleWatchPeriod; a watch seen stale twice
// in a row gets `cache drop` on the OSD, which arms its 30 s timeout, as
// the README tells an operator to do.
type staleWatchSweep struct {
	stop    chan struct{}
	done    chan struct{}
	cleared []cephrbdtest.StaleWatch
}

const staleWatchPeriod = 5 * time.Second

// sweepStaleWatches starts a sweep of the rig's pool; end it with finish.
func (r *rig) sweepStaleWatches() *staleWatchSweep {
	s := &staleWatchSweep{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		seen := map[cephrbdtest.StaleWatch]bool{}
		for {
			select {
			case <-s.stop:
				return
			case <-time.After(staleWatchPeriod):
			}
			stale, err := r.admin.StaleWatches(r.pool)
			if err != nil {
				r.t.Logf("looking for stale watches: %v", err)
				continue
			}
			now := map[cephrbdtest.StaleWatch]bool{}
			drop := false
			for _, w := range stale {
				now[w] = true
				if seen[w] && !slices.Contains(s.cleared, w) {
					s.cleared = append(s.cleared, w)
					drop = true
				}
			}
			seen = now
			if drop {
				if err := r.admin.DropOSDCache(); err != nil {
					r.t.Errorf("clearing stale watches %v: %v", stale, err)
				}
			}
		}
	}()
	return s
}

// finish ends the sweep and returns the watches it cleared; it may be
// called again.
func (s *staleWatchSweep) finish() []cephrbdtest.StaleWatch {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
	return s.cleared
}
