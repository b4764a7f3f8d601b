package controller

import (
	"context"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// cephCSISnapshot writes what ceph-csi's CreateSnapshot leaves for request
// name on the subvolume of volume vol: the subvolume snapshot and a journal
// record holding only csi.snapname, csi.imagename, csi.source and the
// empty-named owner key. It returns the snapshot's CSI ID.
func (f *fixture) cephCSISnapshot(name string, vol *csi.Volume) string {
	f.t.Helper()
	ctx := context.Background()
	id := uuid.NewString()
	parsed, err := volid.Decode(vol.GetVolumeId())
	if err != nil {
		f.t.Fatal(err)
	}
	subvolume := "csi-vol-" + parsed.UUID
	ref := backend.SnapshotRef{SubvolumeRef: backend.SubvolumeRef{FS: testFS, Group: testGroup, Name: subvolume},
		Snapshot: "csi-snap-" + id}
	if err := f.be.CreateSnapshot(ctx, ref); err != nil {
		f.t.Fatal(err)
	}
	store := f.conn.Store(testFS+".meta", "csi")
	if err := store.SetOmap(ctx, "csi.snaps.unit", map[string]string{"csi.snap." + name: id}); err != nil {
		f.t.Fatal(err)
	}
	if err := store.SetOmap(ctx, "csi.snap."+id, map[string]string{"csi.snapname": name,
		"csi.imagename": "csi-snap-" + id, "csi.source": subvolume, "": "default"}); err != nil {
		f.t.Fatal(err)
	}
	snapID, err := volid.ID{ClusterID: testCluster, LocationID: testFSID, UUID: id}.Encode()
	if err != nil {
		f.t.Fatal(err)
	}
	return snapID
}

// TestCephCSISnapshot: a snapshot ceph-csi took is answered on a retry of
// its CreateSnapshot, shown by Get and List with its source, size and time,
// restored, refused for another source, and deleted with its record.
func TestCephCSISnapshot(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	src := f.create(createReq("src", gib))
	other := f.create(createReq("other", gib))
	snapID := f.cephCSISnapshot("snapshot-1", src)
	got := f.snapshot("snapshot-1", src.GetVolumeId())
	if got.GetSnapshotId() != snapID || got.GetSourceVolumeId() != src.GetVolumeId() || got.GetSizeBytes() != gib ||
		got.GetCreationTime().AsTime().Year() < 2000 || !got.GetReadyToUse() {
		t.Fatalf("retried CreateSnapshot = %+v, want ID %s of %s, 1 GiB", got, snapID, src.GetVolumeId())
	}
	_, err := f.srv.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "snapshot-1", SourceVolumeId: other.GetVolumeId(),
		Secrets: secrets()})
	wantCode(t, err, codes.AlreadyExists, "snapshot-1")
	gs, err := f.srv.GetSnapshot(ctx, &csi.GetSnapshotRequest{SnapshotId: snapID, Secrets: secrets()})
	if err != nil || gs.GetSnapshot().GetSourceVolumeId() != src.GetVolumeId() ||
		!gs.GetSnapshot().GetCreationTime().AsTime().Equal(got.GetCreationTime().AsTime()) {
		t.Fatalf("GetSnapshot = %+v, %v", gs, err)
	}
	list, err := f.srv.ListSnapshots(ctx, &csi.ListSnapshotsRequest{SourceVolumeId: src.GetVolumeId(), Secrets: secrets()})
	if err != nil || len(list.GetEntries()) != 1 || list.GetEntries()[0].GetSnapshot().GetSnapshotId() != snapID {
		t.Fatalf("ListSnapshots = %+v, %v", list, err)
	}
	restored := f.create(fromSnapshot(createReq("restored", gib), snapID))
	f.deleteVolume(restored.GetVolumeId())
	if err := f.deleteSnapshot(snapID); err != nil {
		t.Fatal(err)
	}
	f.deleteVolume(src.GetVolumeId())
	f.deleteVolume(other.GetVolumeId())
	f.wantClean()
}

// TestShallowVolumeV0: a shallow volume this driver recorded before it used
// ceph-csi's layout (csi.backingsnapshotid, csi.cephfs.snaprefs.<uuid>)
// still blocks its snapshot's deletion and is deleted with its reference.
func TestShallowVolumeV0(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	src := f.create(createReq("src", gib))
	snap := f.snapshot("snap", src.GetVolumeId())
	snapUUID, volUUID := mustDecode(t, snap.GetSnapshotId()).UUID, uuid.NewString()
	store := f.conn.Store(testFS+".meta", "csi")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(store.SetOmap(ctx, "csi.volume."+volUUID, map[string]string{"csi.volname": "old", "csi.imagename": "csi-vol-" + volUUID,
		"csi.backingsnapshotid": snap.GetSnapshotId()}))
	must(store.SetOmap(ctx, "csi.volumes.unit", map[string]string{"csi.volume.old": volUUID}))
	must(store.SetOmap(ctx, "csi.cephfs.snaprefs."+snapUUID, map[string]string{volUUID: "1"}))
	wantCode(t, f.deleteSnapshot(snap.GetSnapshotId()), codes.FailedPrecondition, volUUID)
	volID, err := volid.ID{ClusterID: testCluster, LocationID: testFSID, UUID: volUUID}.Encode()
	must(err)
	f.deleteVolume(volID)
	must(f.deleteSnapshot(snap.GetSnapshotId()))
	f.deleteVolume(src.GetVolumeId())
	f.wantClean()
}

func mustDecode(t *testing.T, id string) volid.ID {
	t.Helper()
	v, err := volid.Decode(id)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestCephCSIVolumeRetry: ceph-csi's CreateVolume, retried against us
// (its record has no source or size), answers the same volume.
func TestCephCSIVolumeRetry(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	src := f.create(createReq("src", gib))
	snapID := f.cephCSISnapshot("snapshot-1", src)
	store := f.conn.Store(testFS+".meta", "csi")
	for _, name := range []string{"pvc-plain", "pvc-restored"} {
		id := uuid.NewString()
		ref := backend.SubvolumeRef{FS: testFS, Group: testGroup, Name: "csi-vol-" + id}
		if err := f.be.CreateSubvolume(ctx, ref, backend.CreateOptions{Size: gib}); err != nil {
			t.Fatal(err)
		}
		if err := store.SetOmap(ctx, "csi.volume."+id, map[string]string{"csi.volname": name, "csi.imagename": ref.Name}); err != nil {
			t.Fatal(err)
		}
		if err := store.SetOmap(ctx, "csi.volumes.unit", map[string]string{"csi.volume." + name: id}); err != nil {
			t.Fatal(err)
		}
		req := createReq(name, gib)
		if name == "pvc-restored" {
			req = fromSnapshot(req, snapID)
		}
		vol := f.create(req)
		if got := mustDecode(t, vol.GetVolumeId()).UUID; got != id || vol.GetCapacityBytes() != gib {
			t.Fatalf("retried CreateVolume(%s) = %s, %d bytes; want UUID %s, 1 GiB", name, got, vol.GetCapacityBytes(), id)
		}
		f.deleteVolume(vol.GetVolumeId())
	}
	if err := f.deleteSnapshot(snapID); err != nil {
		t.Fatal(err)
	}
	f.deleteVolume(src.GetVolumeId())
	f.wantClean()
}
