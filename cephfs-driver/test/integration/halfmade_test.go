package integration

import (
	"testing"

	"github.com/google/uuid"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/cephfs/cephfstest"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/test/rig"
)

// TestCreateVolumeOverHalfMadeSubvolume: a mgr cut off inside `subvolume
// create` leaves the subvolume's directories without .meta under the name
// the request plans. The retried CreateVolume succeeds with the same ID
// (the mgr's create completes it, as a legacy subvolume), and DeleteVolume
// removes it although such a subvolume cannot retain snapshots.
func TestCreateVolumeOverHalfMadeSubvolume(t *testing.T) {
	e := newEnv(t)
	first := e.CreateVolume("pvc-half", 8*rig.MiB, nil, rig.RWX)
	name := first.GetVolumeContext()["subvolumeName"]
	e.DeleteVolume(first.GetVolumeId())
	if err := cephfstest.LeaveHalfMadeSubvolume(e.CephConn, rig.FSName, e.Group, name, uuid.NewString()); err != nil {
		t.Fatal(err)
	}
	again := e.CreateVolume("pvc-half", 8*rig.MiB, nil, rig.RWX)
	if again.GetVolumeId() != first.GetVolumeId() {
		t.Errorf("volume ID %s, want %s", again.GetVolumeId(), first.GetVolumeId())
	}
	e.DeleteVolume(again.GetVolumeId())
}
