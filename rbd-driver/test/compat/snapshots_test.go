package compat

import (
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestCephCSISnapshots: a snapshot ceph-csi took (a csi-snap clone image)
// is answered for CreateSnapshot retries with its own ID, reported by
// Get/ListSnapshots with the volume's CSI ID, its size and creation time,
// restored, and deleted with its image, after which the volume purges and
// the pool is empty.
func TestCephCSISnapshots(t *testing.T) {
	r := newRig(t)
	before := time.Now().Add(-time.Minute)
	v := r.cephCSIVolume("pvc-cephcsi", volumeLayout{})
	s := r.cephCSISnapshot("snapshot-cephcsi", v)

	// A retry of ceph-csi's CreateSnapshot: the same snapshot.
	got := r.snapshot("snapshot-cephcsi", v.id, map[string]string{"clusterID": r.cl.FSID})
	r.checkSnapshot("CreateSnapshot retry", got, s, v, before)
	// The same name for another volume: AlreadyExists.
	other := r.cephCSIVolume("pvc-other", volumeLayout{})
	_, err := r.ctrl.CreateSnapshot(ctx(t), &csi.CreateSnapshotRequest{Name: "snapshot-cephcsi",
		SourceVolumeId: other.id, Secrets: r.secrets})
	if status.Code(err) != codes.AlreadyExists {
		t.Errorf("CreateSnapshot of another volume under the name: %v, want AlreadyExists", err)
	}
	r.deleteVolume(other.id)

	resp, err := r.ctrl.ListSnapshots(ctx(t), &csi.ListSnapshotsRequest{SnapshotId: s.id, Secrets: r.secrets})
	if err != nil || len(resp.GetEntries()) != 1 {
		t.Fatalf("ListSnapshots by ID: %v, %v", resp, err)
	}
	r.checkSnapshot("ListSnapshots by ID", resp.GetEntries()[0].GetSnapshot(), s, v, before)
	resp, err = r.ctrl.ListSnapshots(ctx(t), &csi.ListSnapshotsRequest{SourceVolumeId: v.id, Secrets: r.secrets})
	if err != nil || len(resp.GetEntries()) != 1 {
		t.Fatalf("ListSnapshots by source: %v, %v", resp, err)
	}
	r.checkSnapshot("ListSnapshots by source", resp.GetEntries()[0].GetSnapshot(), s, v, before)
	gresp, err := r.ctrl.GetSnapshot(ctx(t), &csi.GetSnapshotRequest{SnapshotId: s.id, Secrets: r.secrets})
	if err != nil {
		t.Fatalf("GetSnapshot: %v", err)
	}
	r.checkSnapshot("GetSnapshot", gresp.GetSnapshot(), s, v, before)

	r.retryTheirRestore(s, v)
	// Restore: the volume has the snapshot's size.
	restored := r.restoreOf("pvc-restored", s.id, nil)
	if restored.GetCapacityBytes() != v.size {
		t.Errorf("restored volume has %d bytes, want %d", restored.GetCapacityBytes(), v.size)
	}
	// The volume goes first (ceph-csi allows it: its snapshots are images
	// of their own), then the snapshot, then the restored volume.
	r.deleteVolume(v.id)
	r.deleteSnapshot(s.id)
	r.deleteSnapshot(s.id) // a retried delete is fine
	if _, err := r.ctrl.GetSnapshot(ctx(t), &csi.GetSnapshotRequest{SnapshotId: s.id, Secrets: r.secrets}); status.Code(err) != codes.NotFound {
		t.Errorf("GetSnapshot after delete: %v, want NotFound", err)
	}
	r.deleteVolume(restored.GetVolumeId())
}

func (r *rig) checkSnapshot(what string, got *csi.Snapshot, s *cephCSISnapshot, v *cephCSIVolume, before time.Time) {
	r.t.Helper()
	if got.GetSnapshotId() != s.id || got.GetSourceVolumeId() != v.id || got.GetSizeBytes() != v.size || !got.GetReadyToUse() {
		r.t.Errorf("%s: %+v, want ID %s, source %s, size %d, ready", what, got, s.id, v.id, v.size)
	}
	if created := got.GetCreationTime().AsTime(); created.Before(before) || created.After(time.Now().Add(time.Minute)) {
		r.t.Errorf("%s: creation time %v, want about now", what, created)
	}
	// ceph-csi answers the csi-snap image's creation time (not that of the
	// image's snapshot, taken a moment later): the same must come back.
	want, err := r.admin.Created(r.pool, "", s.image)
	must(r.t, err)
	if created := got.GetCreationTime().AsTime(); !created.Equal(want) {
		r.t.Errorf("%s: creation time %v, want %v (the csi-snap image's, as ceph-csi answers)", what, created, want)
	}
}

// TestCephCSIJournalPoolSnapshot: a snapshot ceph-csi took of a volume
// whose StorageClass named a journalPool (both records split over the two
// pools) is found by a CreateSnapshot retry, restored and deleted; both
// pools end empty.
func TestCephCSIJournalPoolSnapshot(t *testing.T) {
	r := newRig(t)
	jpool := poolName(t, "-jrn")
	r.addPool(jpool)
	before := time.Now().Add(-time.Minute)
	v := r.cephCSIVolume("pvc-jp", volumeLayout{journalPool: jpool})
	s := r.cephCSISnapshot("snapshot-jp", v)
	r.checkSnapshot("CreateSnapshot retry", r.snapshot("snapshot-jp", v.id, nil), s, v, before)
	gresp, err := r.ctrl.GetSnapshot(ctx(t), &csi.GetSnapshotRequest{SnapshotId: s.id, Secrets: r.secrets})
	if err != nil {
		t.Fatalf("GetSnapshot: %v", err)
	}
	r.checkSnapshot("GetSnapshot", gresp.GetSnapshot(), s, v, before)
	resp, err := r.ctrl.ListSnapshots(ctx(t), &csi.ListSnapshotsRequest{SourceVolumeId: v.id, Secrets: r.secrets})
	if err != nil || len(resp.GetEntries()) != 1 {
		t.Fatalf("ListSnapshots by source: %v, %v", resp, err)
	}
	r.checkSnapshot("ListSnapshots by source", resp.GetEntries()[0].GetSnapshot(), s, v, before)
	restored := r.restoreOf("pvc-jp-restored", s.id, map[string]string{"journalPool": jpool})
	r.deleteSnapshot(s.id)
	r.deleteVolume(v.id)
	r.deleteVolume(restored.GetVolumeId())
}

// TestCephCSISnapshotDeletedFirst: deleting ceph-csi's snapshot before its
// volume leaves nothing behind either.
func TestCephCSISnapshotDeletedFirst(t *testing.T) {
	r := newRig(t)
	v := r.cephCSIVolume("pvc-first", volumeLayout{})
	s := r.cephCSISnapshot("snapshot-first", v)
	clone := r.cloneOf("pvc-clone", v.id, nil)
	r.deleteSnapshot(s.id)
	r.deleteVolume(v.id)
	r.deleteVolume(clone.GetVolumeId())
}

// retryTheirRestore: ceph-csi's own restore of s, retried, is the same
// volume; with another source it is AlreadyExists.
func (r *rig) retryTheirRestore(s *cephCSISnapshot, v *cephCSIVolume) {
	t := r.t
	t.Helper()
	theirs := r.cephCSIRestore("pvc-their-restore", s, v.size)
	if again := r.restoreOf("pvc-their-restore", s.id, nil); again.GetVolumeId() != theirs.id {
		t.Errorf("CreateVolume retry of ceph-csi's restore gave %s, want %s", again.GetVolumeId(), theirs.id)
	}
	req := r.volReq("pvc-their-restore", fixtureSize, nil)
	req.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{
		Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: v.id}}}
	if _, err := r.ctrl.CreateVolume(ctx(t), req); status.Code(err) != codes.AlreadyExists {
		t.Errorf("CreateVolume of ceph-csi's restore with another source: %v, want AlreadyExists", err)
	}
	r.deleteVolume(theirs.id)
}
