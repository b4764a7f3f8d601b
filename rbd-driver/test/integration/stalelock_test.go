package integration

import (
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/cephrbd/cephrbdtest"
	"github.com/seed-6a310834/ceph-csi/shared/cephconn"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
)

// TestOwnStaleExclusiveLock: an exclusive-lock image whose managed lock
// was left by a handle of the driver's own connection (a close while an
// OSD was down) is still snapshotted, expanded and deleted through that
// connection: librbd alone answers EROFS for every change, as breaking the
// lock would blocklist the connection itself (test/faults TestOSDStopped
// with the cluster's default features).
func TestOwnStaleExclusiveLock(t *testing.T) {
	r := newRig(t, 4, 8)
	req := r.volReq("pvc-locked", 32*mib)
	req.Parameters["imageFeatures"] = "layering,exclusive-lock"
	vol := r.create(r.ctrl, req)
	conn := r.driverConn()
	for _, step := range []string{"snapshot", "expand", "delete"} {
		if err := cephrbdtest.PlantOwnStaleLock(conn, r.pool, image(vol)); err != nil {
			t.Fatal(err)
		}
		switch step {
		case "snapshot":
			r.deleteSnapshot(r.snapshot("snap-locked", vol.GetVolumeId()).GetSnapshotId())
		case "expand":
			_, err := r.ctrl.ControllerExpandVolume(ctx(t), &csi.ControllerExpandVolumeRequest{
				VolumeId: vol.GetVolumeId(), CapacityRange: &csi.CapacityRange{RequiredBytes: 64 * mib},
				Secrets: r.secrets})
			if err != nil {
				t.Fatalf("expand with a stale lock of our own: %v", err)
			}
			lockers, err := r.admin.Lockers(r.pool, image(vol))
			if err != nil || strings.Contains(strings.Join(lockers, ","), "auto 1") {
				t.Fatalf("lockers after the expand: %v (%v), want the stale lock broken", lockers, err)
			}
		case "delete":
			r.deleteVolume(vol.GetVolumeId())
		}
	}
}

// driverConn borrows the pooled connection the rig's controller uses.
func (r *rig) driverConn() *cephconn.Conn {
	r.t.Helper()
	creds, err := credentials.ForRBD(r.secrets)
	if err != nil {
		r.t.Fatal(err)
	}
	conn, err := r.cpool.Get(ctx(r.t), cephconn.Target{ClusterID: r.cl.FSID, Monitors: r.cl.Monitors, Creds: creds})
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(conn.Release)
	return conn
}
