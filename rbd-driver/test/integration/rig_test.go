// Package integration tests the RBD controller against the real test
// cluster (test/cluster.sh): every test works in a pool of its own, checks
// at the end that the pool is back to its initial state (no images, trash
// drained by the mgr, no journal keys or objects) and deletes it.
package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/cephrbd"
	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/cephrbd/cephrbdtest"
	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/controller"
	"github.com/seed-6a310834/ceph-csi/shared/cephconn"
	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/testcluster"
)

// drainTimeout bounds the wait for the mgr to purge the trash: a purge
// that found snapshots still in use is retried after 30 s, then 60 s.
const drainTimeout = 150 * time.Second

type rig struct {
	t       *testing.T
	cl      *testcluster.Cluster
	admin   *cephrbdtest.Admin
	pool    string
	cpool   *cephconn.Pool
	store   *clusterconfig.Store
	ctrl    *controller.Server
	ctrls   []*controller.Server
	secrets map[string]string
}

// poolName is the test's pool: deterministic, so that a run killed before
// its cleanup has its leftover pool replaced by the next run.
func poolName(t *testing.T) string {
	return "csi-rbd-it-" + strings.ToLower(strings.TrimPrefix(t.Name(), "Test"))
}

// newRig creates the test's pool and a controller (soft/hard clone depth as
// given) on it; the cleanup asserts the pool is empty and deletes it.
func newRig(t *testing.T, soft, hard int) *rig {
	cl := testcluster.Get(t)
	r := &rig{t: t, cl: cl, admin: cephrbdtest.Conn(t, cl), pool: poolName(t),
		store: clusterconfig.NewStore(cl.CSIConfig), secrets: map[string]string{"userID": cl.AdminID, "userKey": cl.AdminKey}}
	r.admin.CreatePool(t, r.pool)
	r.cpool = cephconn.NewPool(cephconn.Options{})
	t.Cleanup(func() {
		for _, c := range r.ctrls {
			c.Close()
		}
		r.cpool.Close()
		wait := drainTimeout
		if t.Failed() {
			wait = 0 // leftovers are expected; report them
		}
		c, err := r.admin.WaitEmpty(r.pool, "", wait)
		if err != nil || !c.Empty() {
			t.Errorf("pool %s is not back to its initial state: %v (%v)", r.pool, c, err)
		}
		if err := r.admin.DeletePool(r.pool); err != nil {
			t.Errorf("delete pool %s: %v", r.pool, err)
		}
	})
	r.ctrl = r.controller(soft, hard)
	return r
}

// controller returns another controller over the same connections.
func (r *rig) controller(soft, hard int, mods ...func(*controller.Config)) *controller.Server {
	cfg := controller.Config{
		Backend:        cephrbd.New(r.cpool, cephrbd.Options{}),
		Clusters:       r.store,
		InstanceID:     "it",
		CloneSoftDepth: soft,
		CloneHardDepth: hard,
		SetMetadata:    true,
	}
	for _, m := range mods {
		m(&cfg)
	}
	s, err := controller.New(cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	r.ctrls = append(r.ctrls, s)
	return s
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

func (r *rig) volReq(name string, size int64) *csi.CreateVolumeRequest {
	return &csi.CreateVolumeRequest{
		Name:          name,
		CapacityRange: &csi.CapacityRange{RequiredBytes: size},
		VolumeCapabilities: []*csi.VolumeCapability{{
			AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: "ext4"}},
			AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
		}},
		Parameters: map[string]string{"clusterID": r.cl.FSID, "pool": r.pool,
			"csi.storage.k8s.io/pvc/name": name, "csi.storage.k8s.io/pvc/namespace": "it"},
		Secrets: r.secrets,
	}
}

func (r *rig) create(s *controller.Server, req *csi.CreateVolumeRequest) *csi.Volume {
	r.t.Helper()
	resp, err := s.CreateVolume(ctx(r.t), req)
	if err != nil {
		r.t.Fatalf("CreateVolume(%s): %v", req.GetName(), err)
	}
	return resp.GetVolume()
}

func (r *rig) deleteVolume(id string) {
	r.t.Helper()
	if _, err := r.ctrl.DeleteVolume(ctx(r.t), &csi.DeleteVolumeRequest{VolumeId: id, Secrets: r.secrets}); err != nil {
		r.t.Fatalf("DeleteVolume: %v", err)
	}
}

func (r *rig) snapshot(name, volID string) *csi.Snapshot {
	r.t.Helper()
	resp, err := r.ctrl.CreateSnapshot(ctx(r.t), &csi.CreateSnapshotRequest{Name: name, SourceVolumeId: volID, Secrets: r.secrets})
	if err != nil {
		r.t.Fatalf("CreateSnapshot(%s): %v", name, err)
	}
	return resp.GetSnapshot()
}

func (r *rig) deleteSnapshot(id string) {
	r.t.Helper()
	if _, err := r.ctrl.DeleteSnapshot(ctx(r.t), &csi.DeleteSnapshotRequest{SnapshotId: id, Secrets: r.secrets}); err != nil {
		r.t.Fatalf("DeleteSnapshot: %v", err)
	}
}

func image(v *csi.Volume) string { return v.GetVolumeContext()["imageName"] }

func (r *rig) write(v *csi.Volume, off int64, s string) {
	r.t.Helper()
	if err := r.admin.WriteAt(r.pool, "", image(v), off, []byte(s)); err != nil {
		r.t.Fatalf("write to %s: %v", image(v), err)
	}
}

func (r *rig) expectData(v *csi.Volume, off int64, want string) {
	r.t.Helper()
	got, err := r.admin.ReadAt(r.pool, "", image(v), off, len(want))
	if err != nil || string(got) != want {
		r.t.Fatalf("read %s at %d = %q, %v; want %q", image(v), off, got, err, want)
	}
}

func (r *rig) describe(v *csi.Volume) *cephrbdtest.Image {
	r.t.Helper()
	img, err := r.admin.Describe(r.pool, "", image(v))
	if err != nil {
		r.t.Fatalf("describe %s: %v", image(v), err)
	}
	return img
}

func wantCode(t *testing.T, err error, code codes.Code, fragments ...string) {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != code {
		t.Fatalf("got %v (%v), want %v", st.Code(), err, code)
	}
	for _, f := range fragments {
		if !strings.Contains(st.Message(), f) {
			t.Errorf("message %q lacks %q", st.Message(), f)
		}
	}
}

// eventually polls cond every half second until it holds or the timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// session is a go-ceph session of the driver's backend on the test's
// cluster, with the rig's secrets, released when the test ends: for tests
// that arrange or inspect the cluster below the CSI calls.
func (r *rig) session() backend.Session {
	r.t.Helper()
	creds, err := credentials.ForRBD(r.secrets)
	if err != nil {
		r.t.Fatal(err)
	}
	sess, err := cephrbd.New(r.cpool, cephrbd.Options{}).Connect(ctx(r.t),
		backend.Target{ClusterID: r.cl.FSID, Monitors: r.cl.Monitors, Creds: creds})
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(sess.Release)
	return sess
}
