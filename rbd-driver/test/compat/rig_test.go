// Package compat proves that rbd-driver manages what ceph-csi left on a
// cluster. Each test lays down ceph-csi's exact on-cluster layout itself
// (journal directories and records, csi-snap clone images, volumes with and
// without csi.imageid, records split over a journal pool; see
// fixtures_test.go), manages it through the driver's CSI calls only, and
// asserts at the end that its pools hold nothing: no image, trash entry,
// journal key or object.
package compat

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/cephrbd"
	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/cephrbd/cephrbdtest"
	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/controller"
	"github.com/seed-6a310834/ceph-csi/shared/cephconn"
	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
	"github.com/seed-6a310834/ceph-csi/shared/testcluster"
)

// instance is the journal instance of both drivers (ceph-csi's
// --instanceid, our --instance-id).
const instance = "default"

// drainTimeout bounds the wait for the mgr to purge the trash (a purge
// waiting for a clone's removal is retried after 30 s, then 60 s).
const drainTimeout = 180 * time.Second

type rig struct {
	t       *testing.T
	cl      *testcluster.Cluster
	admin   *cephrbdtest.Admin
	pool    string
	cpool   *cephconn.Pool
	ctrl    *controller.Server
	secrets map[string]string
}

func poolName(t *testing.T, suffix string) string {
	return "csi-rbd-compat-" + strings.ToLower(strings.TrimPrefix(t.Name(), "Test")) + suffix
}

// newRig creates the test's pool and a controller on it; the cleanup
// asserts the pool is empty and deletes it.
func newRig(t *testing.T) *rig {
	cl := testcluster.Get(t)
	r := &rig{t: t, cl: cl, admin: cephrbdtest.Conn(t, cl), pool: poolName(t, ""),
		secrets: map[string]string{"userID": cl.AdminID, "userKey": cl.AdminKey}}
	r.addPool(r.pool)
	r.cpool = cephconn.NewPool(cephconn.Options{})
	s, err := controller.New(controller.Config{
		Backend:        cephrbd.New(r.cpool, cephrbd.Options{}),
		Clusters:       clusterconfig.NewStore(cl.CSIConfig),
		InstanceID:     instance,
		CloneSoftDepth: 4,
		CloneHardDepth: 8,
	})
	if err != nil {
		t.Fatal(err)
	}
	r.ctrl = s
	t.Cleanup(func() { s.Close(); r.cpool.Close() })
	return r
}

// addPool creates a pool whose emptiness the cleanup asserts before it
// deletes it (cleanups run last-in first-out: after the controller's).
func (r *rig) addPool(pool string) {
	r.admin.CreatePool(r.t, pool)
	r.t.Cleanup(func() {
		wait := drainTimeout
		if r.t.Failed() {
			wait = 0
		}
		c, err := r.admin.WaitEmpty(pool, "", wait)
		if err != nil || !c.Empty() {
			r.t.Errorf("pool %s is not empty: %v (%v)", pool, c, err)
		}
		if err := r.admin.DeletePool(pool); err != nil {
			r.t.Errorf("delete pool %s: %v", pool, err)
		}
	})
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

func mountCap() []*csi.VolumeCapability {
	return []*csi.VolumeCapability{{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: "ext4"}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
	}}
}

func (r *rig) volReq(name string, size int64, params map[string]string) *csi.CreateVolumeRequest {
	p := map[string]string{"clusterID": r.cl.FSID, "pool": r.pool}
	for k, v := range params {
		p[k] = v
	}
	return &csi.CreateVolumeRequest{Name: name, CapacityRange: &csi.CapacityRange{RequiredBytes: size},
		VolumeCapabilities: mountCap(), Parameters: p, Secrets: r.secrets}
}

func (r *rig) create(req *csi.CreateVolumeRequest) *csi.Volume {
	r.t.Helper()
	resp, err := r.ctrl.CreateVolume(ctx(r.t), req)
	if err != nil {
		r.t.Fatalf("CreateVolume %s: %v", req.GetName(), err)
	}
	return resp.GetVolume()
}

func (r *rig) deleteVolume(id string) {
	r.t.Helper()
	if _, err := r.ctrl.DeleteVolume(ctx(r.t), &csi.DeleteVolumeRequest{VolumeId: id, Secrets: r.secrets}); err != nil {
		r.t.Fatalf("DeleteVolume %s: %v", id, err)
	}
}

func (r *rig) snapshot(name, volID string, params map[string]string) *csi.Snapshot {
	r.t.Helper()
	resp, err := r.ctrl.CreateSnapshot(ctx(r.t), &csi.CreateSnapshotRequest{Name: name, SourceVolumeId: volID,
		Parameters: params, Secrets: r.secrets})
	if err != nil {
		r.t.Fatalf("CreateSnapshot %s: %v", name, err)
	}
	return resp.GetSnapshot()
}

func (r *rig) deleteSnapshot(id string) {
	r.t.Helper()
	if _, err := r.ctrl.DeleteSnapshot(ctx(r.t), &csi.DeleteSnapshotRequest{SnapshotId: id, Secrets: r.secrets}); err != nil {
		r.t.Fatalf("DeleteSnapshot %s: %v", id, err)
	}
}

// csiID renders a CSI ID as ceph-csi composes it (written out here, not
// taken from the driver): 0001-<4-hex length of the cluster ID>-<cluster
// ID>-<16-hex pool ID>-<uuid>.
func csiID(clusterID string, poolID int64, uuid string) string {
	return fmt.Sprintf("0001-%04x-%s-%016x-%s", len(clusterID), clusterID, poolID, uuid)
}

func (r *rig) poolID(pool string) int64 {
	r.t.Helper()
	id, err := r.admin.PoolID(pool)
	if err != nil {
		r.t.Fatal(err)
	}
	return id
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
