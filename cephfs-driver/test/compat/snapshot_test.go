package compat

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/test/rig"
)

// TestCephCSISnapshot: a snapshot in ceph-csi's layout is answered on a
// retry of ceph-csi's own CreateSnapshot (same ID), refused for another
// source, shown by Get/List with its source volume, size and creation
// time, restored (with its data), and deleted with everything.
func TestCephCSISnapshot(t *testing.T) {
	e := newEnv(t)
	src := e.CreateVolume("pvc-src", 64*rig.MiB, nil, rig.RWX)
	other := e.CreateVolume("pvc-other", 64*rig.MiB, nil, rig.RWX)
	staging := e.Path("staging")
	e.MustStage(src, staging, rig.RWX)
	rig.WriteFile(t, filepath.Join(staging, "data"), "before the snapshot")
	before := time.Now()
	snapID := e.cephCSISnapshot("snapshot-1", src)

	got := e.CreateSnapshot("snapshot-1", src.GetVolumeId())
	created := got.GetCreationTime().AsTime()
	if got.GetSnapshotId() != snapID || got.GetSourceVolumeId() != src.GetVolumeId() || got.GetSizeBytes() != 64*rig.MiB ||
		created.Before(before.Add(-time.Minute)) || created.After(time.Now().Add(time.Minute)) {
		t.Fatalf("retried CreateSnapshot = %+v, want ID %s of %s, 64 MiB, created about %v", got, snapID, src.GetVolumeId(), before)
	}
	_, err := e.Ctrl.CreateSnapshot(e.Ctx(), &csi.CreateSnapshotRequest{Name: "snapshot-1", SourceVolumeId: other.GetVolumeId(),
		Secrets: e.AdminSecrets()})
	if status.Code(err) != codes.AlreadyExists {
		t.Fatalf("CreateSnapshot of another source: %v, want AlreadyExists", err)
	}
	gs, err := e.Ctrl.GetSnapshot(e.Ctx(), &csi.GetSnapshotRequest{SnapshotId: snapID, Secrets: e.AdminSecrets()})
	if err != nil || gs.GetSnapshot().GetSourceVolumeId() != src.GetVolumeId() ||
		!gs.GetSnapshot().GetCreationTime().AsTime().Equal(created) || gs.GetSnapshot().GetSizeBytes() != 64*rig.MiB {
		t.Fatalf("GetSnapshot = %+v, %v", gs, err)
	}
	list, err := e.Ctrl.ListSnapshots(e.Ctx(), &csi.ListSnapshotsRequest{SourceVolumeId: src.GetVolumeId(), Secrets: e.AdminSecrets()})
	if err != nil || len(list.GetEntries()) != 1 || list.GetEntries()[0].GetSnapshot().GetSnapshotId() != snapID {
		t.Fatalf("ListSnapshots = %+v, %v", list, err)
	}
	rig.WriteFile(t, filepath.Join(staging, "data"), "after the snapshot")
	e.Unstage(src, staging)

	restored := e.CreateVolume("pvc-restored", 64*rig.MiB, rig.SnapshotSource(snapID), rig.RWX)
	rstaging := e.Path("restored")
	e.MustStage(restored, rstaging, rig.RWX)
	rig.ReadFile(t, filepath.Join(rstaging, "data"), "before the snapshot")
	e.Unstage(restored, rstaging)

	e.DeleteVolume(restored.GetVolumeId())
	if err := e.DeleteSnapshot(snapID); err != nil {
		t.Fatal(err)
	}
	e.DeleteVolume(src.GetVolumeId())
	e.DeleteVolume(other.GetVolumeId())
}
