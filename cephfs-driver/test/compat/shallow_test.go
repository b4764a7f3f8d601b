package compat

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/volctx"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/test/rig"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

var rox = rig.MountCap(csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY)

// wantTracker fails unless the snapshot's tracker holds exactly refs
// (reference -> type byte) with the count of normal ones, in ceph-csi's
// v1 layout.
func (e *env) wantTracker(snapID string, refs map[string]byte) {
	e.T.Helper()
	obj, err := e.readTracker(snapID)
	if err != nil {
		e.T.Fatalf("tracker of %s: %v", snapID, err)
	}
	var n uint32
	for _, typ := range refs {
		if typ == 1 {
			n++
		}
	}
	ok := bytes.Equal(obj.Xattr, be32(1)) && bytes.Equal(obj.Data, be32(n)) && len(obj.Omap) == len(refs)
	for k, typ := range refs {
		ok = ok && bytes.Equal(obj.Omap[k], []byte{typ})
	}
	if !ok {
		e.T.Fatalf("tracker of %s: version %x count %x refs %v, want version 1, count %d, refs %v",
			snapID, obj.Xattr, obj.Data, obj.Omap, n, refs)
	}
}

func (e *env) wantNoTracker(snapID string) {
	e.T.Helper()
	if obj, err := e.readTracker(snapID); !errors.Is(err, journal.ErrObjectNotFound) {
		e.T.Fatalf("tracker of %s: %+v, %v; want none", snapID, obj, err)
	}
}

// volumeRecord returns the journal record pairs of a volume.
func (e *env) volumeRecord(volID string) map[string]string {
	e.T.Helper()
	id, err := volid.Decode(volID)
	if err != nil {
		e.T.Fatal(err)
	}
	kv, err := e.Store.ListOmap(context.Background(), "csi.volume."+id.UUID, "")
	if err != nil {
		e.T.Fatal(err)
	}
	return kv
}

// TestShallowVolumeAsCephCSIRecordsIt: a shallow volume of ours is
// recorded as ceph-csi records it (csi.volume.backingsnapshotid, a v1
// reftracker with the snapshot's and the volume's references), and when
// ceph-csi deletes the snapshot (masking its reference) our DeleteVolume
// of the last shallow volume removes the snapshot, its record and the
// tracker.
func TestShallowVolumeAsCephCSIRecordsIt(t *testing.T) {
	e := newEnv(t)
	src := e.CreateVolume("pvc-src", 64*rig.MiB, nil, rig.RWX)
	snap := e.CreateSnapshot("snapshot-1", src.GetVolumeId())
	snapID := snap.GetSnapshotId()
	vol := e.CreateVolume("pvc-shallow", 64*rig.MiB, rig.SnapshotSource(snapID), rox, volctx.BackingSnapshot, "true")
	rec := e.volumeRecord(vol.GetVolumeId())
	if rec["csi.volume.backingsnapshotid"] != snapID || rec["csi.backingsnapshotid"] != "" {
		t.Fatalf("volume record %v: want csi.volume.backingsnapshotid = %s only", rec, snapID)
	}
	image := rec["csi.imagename"]
	e.wantTracker(snapID, map[string]byte{snapID: 1, image: 1})
	e.CreateVolume("pvc-shallow", 64*rig.MiB, rig.SnapshotSource(snapID), rox, volctx.BackingSnapshot, "true")
	e.wantTracker(snapID, map[string]byte{snapID: 1, image: 1})

	if err := e.DeleteSnapshot(snapID); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("DeleteSnapshot of a backing snapshot: %v, want FailedPrecondition", err)
	}
	e.maskAsCephCSI(snapID)
	e.wantTracker(snapID, map[string]byte{snapID: 2, image: 1})
	if _, err := e.Ctrl.CreateVolume(e.Ctx(), &csi.CreateVolumeRequest{Name: "pvc-late", VolumeCapabilities: []*csi.VolumeCapability{rig.RWX},
		Parameters: e.Params(), Secrets: e.AdminSecrets(), VolumeContentSource: rig.SnapshotSource(snapID)}); status.Code(err) != codes.NotFound {
		t.Fatalf("restore of a snapshot ceph-csi deleted: %v, want NotFound", err)
	}
	e.DeleteVolume(vol.GetVolumeId())
	e.wantNoTracker(snapID)
	if _, err := e.Ctrl.GetSnapshot(e.Ctx(), &csi.GetSnapshotRequest{SnapshotId: snapID, Secrets: e.AdminSecrets()}); status.Code(err) != codes.NotFound {
		t.Fatalf("GetSnapshot after the last shallow volume of a masked snapshot went: %v, want NotFound", err)
	}
	e.DeleteVolume(src.GetVolumeId())
}

// TestCephCSIShallowVolume: a shallow volume ceph-csi made (its record and
// its reference in the tracker) blocks our DeleteSnapshot, is deleted by
// our DeleteVolume (the snapshot's own reference stays), after which the
// snapshot and the tracker go.
func TestCephCSIShallowVolume(t *testing.T) {
	e := newEnv(t)
	src := e.CreateVolume("pvc-src", 64*rig.MiB, nil, rig.RWX)
	staging := e.Path("src")
	e.MustStage(src, staging, rig.RWX)
	rig.WriteFile(t, filepath.Join(staging, "f"), "in the snapshot")
	e.Unstage(src, staging)
	snapID := e.cephCSISnapshot("snapshot-1", src)
	volID, image := e.cephCSIShallowVolume("pvc-shallow", snapID)
	// ceph-csi's context of a shallow volume: the StorageClass parameters,
	// subvolumeName and, as subvolumePath, the source's base directory; the
	// node finds the snapshot through the journal.
	vc := map[string]string{"clusterID": e.Cluster.FSID, "fsName": rig.FSName, "backingSnapshot": "true",
		"mounter": volctx.MounterFuse, "subvolumeName": image,
		"subvolumePath": filepath.Dir(src.GetVolumeContext()[volctx.SubvolumePath]) + "/"}
	shallow := e.Path("shallow")
	if err := e.stageWith(volID, vc, e.secretsWith("admin"), shallow, rox); err != nil {
		t.Fatalf("NodeStageVolume of ceph-csi's shallow volume: %v", err)
	}
	rig.ReadFile(t, filepath.Join(shallow, "f"), "in the snapshot")
	e.unstage(volID, shallow)
	err := e.DeleteSnapshot(snapID)
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("DeleteSnapshot of a backing snapshot: %v, want FailedPrecondition", err)
	}
	rig.MustHave(t, err.Error(), image)
	if _, err := e.Ctrl.ValidateVolumeCapabilities(e.Ctx(), &csi.ValidateVolumeCapabilitiesRequest{VolumeId: volID,
		VolumeCapabilities: []*csi.VolumeCapability{rox}, Secrets: e.AdminSecrets()}); err != nil {
		t.Fatalf("ValidateVolumeCapabilities of ceph-csi's shallow volume: %v", err)
	}
	e.DeleteVolume(volID)
	e.DeleteVolume(volID)
	e.wantTracker(snapID, map[string]byte{snapID: 1})
	if err := e.DeleteSnapshot(snapID); err != nil {
		t.Fatal(err)
	}
	e.wantNoTracker(snapID)
	e.DeleteVolume(src.GetVolumeId())
}
