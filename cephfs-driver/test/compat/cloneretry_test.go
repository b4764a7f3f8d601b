package compat

import (
	"context"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/google/uuid"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/test/rig"
)

// cephCSIClone does what ceph-csi's CreateVolume from a content source
// does up to a crash: it clones snap into the subvolume csi-vol-<uuid>,
// waits for the clone, and writes the volume record (no size, no source)
// without expanding the clone or removing a temporary snapshot. It returns
// the CSI ID and the subvolume name.
func (e *env) cephCSIClone(name string, snap backend.SnapshotRef) (string, string) {
	e.T.Helper()
	return e.cephCSICloneAs(uuid.NewString(), name, snap)
}

// cephCSICloneAs is cephCSIClone with the clone's journal UUID id.
func (e *env) cephCSICloneAs(id, name string, snap backend.SnapshotRef) (string, string) {
	e.T.Helper()
	ctx := context.Background()
	target := backend.SubvolumeRef{FS: rig.FSName, Group: e.Group, Name: "csi-vol-" + id}
	if err := e.Admin.CloneSnapshot(ctx, snap, target.Name, ""); err != nil {
		e.T.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		st, err := e.Admin.CloneStatus(ctx, target)
		if err == nil && st.State == backend.CloneComplete {
			break
		}
		if time.Now().After(deadline) {
			e.T.Fatalf("clone %s: %+v, %v", target.Name, st, err)
		}
	}
	e.setOmap("csi.volume."+id, map[string]string{"csi.volname": name, "csi.imagename": target.Name})
	e.setOmap("csi.volumes."+e.Instance, map[string]string{"csi.volume." + name: id})
	return e.encodeID(id), target.Name
}

func (e *env) subvolumeRef(name string) backend.SubvolumeRef {
	return backend.SubvolumeRef{FS: rig.FSName, Group: e.Group, Name: name}
}

// TestCephCSICloneRetry: ceph-csi crashed after cloning a volume, before
// it removed its temporary snapshot of the source (named after the clone's
// subvolume). A retry of its CreateVolume answers the same volume and
// removes that snapshot, as ceph-csi's own retry does, so that the source
// can be deleted.
func TestCephCSICloneRetry(t *testing.T) {
	e := newEnv(t)
	srcID, srcName, _ := e.cephCSIVolume("pvc-src")
	src := e.subvolumeRef(srcName)
	id := uuid.NewString()
	// The temporary snapshot carries the clone's subvolume name.
	tmp := backend.SnapshotRef{SubvolumeRef: src, Snapshot: "csi-vol-" + id}
	if err := e.Admin.CreateSnapshot(context.Background(), tmp); err != nil {
		t.Fatal(err)
	}
	cloneID, _ := e.cephCSICloneAs(id, "pvc-clone", tmp)
	got := e.CreateVolume("pvc-clone", 64*rig.MiB, rig.VolumeSource(srcID), rig.RWX)
	if got.GetVolumeId() != cloneID {
		t.Errorf("CreateVolume retry of ceph-csi's clone gave %s, want %s", got.GetVolumeId(), cloneID)
	}
	if snaps, err := e.Admin.ListSnapshots(context.Background(), src); err != nil || len(snaps) > 0 {
		t.Errorf("source %s keeps snapshots %v (%v), want ceph-csi's temporary one removed", srcName, snaps, err)
	}
	e.DeleteVolume(cloneID)
	e.DeleteVolume(srcID)
}

// TestCephCSICloneRetryBeforeClone: ceph-csi crashed after it reserved the
// clone's name and took its temporary snapshot of the source, before it
// started the clone. A retry makes the clone from that snapshot, answers
// the reserved ID and removes the snapshot.
func TestCephCSICloneRetryBeforeClone(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	srcID, srcName, _ := e.cephCSIVolume("pvc-src")
	src := e.subvolumeRef(srcName)
	id := uuid.NewString()
	tmp := backend.SnapshotRef{SubvolumeRef: src, Snapshot: "csi-vol-" + id}
	if err := e.Admin.CreateSnapshot(ctx, tmp); err != nil {
		t.Fatal(err)
	}
	e.setOmap("csi.volume."+id, map[string]string{"csi.volname": "pvc-clone", "csi.imagename": "csi-vol-" + id})
	e.setOmap("csi.volumes."+e.Instance, map[string]string{"csi.volume.pvc-clone": id})
	got := e.CreateVolume("pvc-clone", 64*rig.MiB, rig.VolumeSource(srcID), rig.RWX)
	if want := e.encodeID(id); got.GetVolumeId() != want {
		t.Errorf("CreateVolume retry of ceph-csi's reserved clone gave %s, want %s", got.GetVolumeId(), want)
	}
	st, err := e.Admin.CloneStatus(ctx, e.subvolumeRef("csi-vol-"+id))
	if err != nil || st.State != backend.CloneComplete {
		t.Errorf("clone csi-vol-%s: %+v, %v; want a complete clone", id, st, err)
	}
	if snaps, err := e.Admin.ListSnapshots(ctx, src); err != nil || len(snaps) > 0 {
		t.Errorf("source %s keeps snapshots %v (%v), want ceph-csi's temporary one removed", srcName, snaps, err)
	}
	e.DeleteVolume(got.GetVolumeId())
	e.DeleteVolume(srcID)
}

// TestCephCSIRestoreRetry: ceph-csi crashed after restoring a snapshot,
// before it expanded the clone to the requested size. A retry answers the
// same volume with the requested size.
func TestCephCSIRestoreRetry(t *testing.T) {
	e := newEnv(t)
	srcID, srcName, _ := e.cephCSIVolume("pvc-src")
	snapID := e.cephCSISnapshot("snapshot-1", &csi.Volume{VolumeId: srcID})
	snaps, err := e.Admin.ListSnapshots(context.Background(), e.subvolumeRef(srcName))
	if err != nil || len(snaps) != 1 {
		t.Fatalf("snapshots of %s: %v, %v", srcName, snaps, err)
	}
	restoredID, _ := e.cephCSIClone("pvc-restored", backend.SnapshotRef{SubvolumeRef: e.subvolumeRef(srcName), Snapshot: snaps[0]})
	got := e.CreateVolume("pvc-restored", 128*rig.MiB, rig.SnapshotSource(snapID), rig.RWX)
	if got.GetVolumeId() != restoredID || got.GetCapacityBytes() != 128*rig.MiB {
		t.Errorf("CreateVolume retry of ceph-csi's restore gave %s with %d bytes, want %s with %d",
			got.GetVolumeId(), got.GetCapacityBytes(), restoredID, 128*rig.MiB)
	}
	e.DeleteVolume(restoredID)
	if err := e.DeleteSnapshot(snapID); err != nil {
		t.Fatal(err)
	}
	e.DeleteVolume(srcID)
}
