package integration

import (
	"errors"
	"testing"
	"time"

	"github.com/seed-6a310834/ceph-csi/shared/csisource"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/controller"
)

// halfMadeBound is the controller's PartialBound in these tests.
const halfMadeBound = 2 * time.Second

// TestHalfMadeImageIsReclaimed leaves, under the image name a request
// plans, what a create killed inside librbd leaves (a directory entry, with
// or without the ID object, never the header): the request answers Aborted
// within the bound, then removes the pieces and creates the volume with the
// same ID, and the pool ends empty.
func TestHalfMadeImageIsReclaimed(t *testing.T) {
	r := newRig(t, 2, 4)
	s := r.controller(2, 4, func(c *controller.Config) { c.PartialBound = halfMadeBound })
	for _, tc := range []struct {
		name     string
		idObject bool
	}{{"pvc-dir-only", false}, {"pvc-dir-and-id", true}} {
		first := r.create(s, r.volReq(tc.name, 8<<20))
		r.deleteVolume(first.GetVolumeId())
		if err := r.admin.LeaveHalfMade(r.pool, "", image(first), "deadbeef01", tc.idObject); err != nil {
			t.Fatal(err)
		}
		if !tc.idObject { // a fresh ID object proves the create alive as well; a directory entry does not
			_, err := s.CreateVolume(ctx(t), r.volReq(tc.name, 8<<20))
			wantCode(t, err, codes.Aborted, "half-made")
		}
		var err error
		eventually(t, 3*halfMadeBound, "the half-made image reclaimed", func() bool {
			_, err = s.CreateVolume(ctx(t), r.volReq(tc.name, 8<<20))
			return err == nil
		})
		v := r.create(s, r.volReq(tc.name, 8<<20))
		if v.GetVolumeId() != first.GetVolumeId() {
			t.Errorf("%s: volume ID %s, want %s", tc.name, v.GetVolumeId(), first.GetVolumeId())
		}
		if st := r.describe(v); st == nil {
			t.Errorf("%s: the recreated image does not open", tc.name)
		}
		r.deleteVolume(v.GetVolumeId())
	}
}

// TestRemovePartialIsExact: pieces that no longer match what was seen
// (a newer create's) are not removed; the matching ones are, and a second
// removal is harmless.
func TestRemovePartialIsExact(t *testing.T) {
	r := newRig(t, 2, 4)
	sess := r.session()
	img := backend.ImageRef{PoolRef: backend.PoolRef{Pool: r.pool}, Name: "csi-vol-halfmade"}
	if err := r.admin.LeaveHalfMade(r.pool, "", img.Name, "cafe01", true); err != nil {
		t.Fatal(err)
	}
	p, err := sess.Partial(ctx(t), img)
	if err != nil || p.DirID != "cafe01" || p.ObjectID != "cafe01" || time.Since(p.ObjectTime) > time.Minute {
		t.Fatalf("Partial = %+v, %v; want both pieces with ID cafe01, written just now", p, err)
	}
	stale := backend.PartialImage{DirID: "other", ObjectID: "other"}
	if err := sess.RemovePartial(ctx(t), img, stale); !errors.Is(err, backend.ErrExists) {
		t.Errorf("RemovePartial(other ID) = %v, want ErrExists", err)
	}
	if q, _ := sess.Partial(ctx(t), img); !q.Same(p) {
		t.Errorf("pieces after a refused removal: %+v, want %+v", q, p)
	}
	for i := 0; i < 2; i++ {
		if err := sess.RemovePartial(ctx(t), img, p); err != nil {
			t.Fatalf("RemovePartial #%d: %v", i+1, err)
		}
	}
	if q, err := sess.Partial(ctx(t), img); err != nil || !q.Empty() {
		t.Errorf("after removal: %+v, %v; want nothing", q, err)
	}
	v := r.create(r.ctrl, r.volReq("pvc-complete", 8<<20))
	if _, err := sess.Partial(ctx(t), backend.ImageRef{PoolRef: img.PoolRef, Name: image(v)}); !errors.Is(err, backend.ErrExists) {
		t.Errorf("Partial(complete image) = %v, want ErrExists", err)
	}
	r.deleteVolume(v.GetVolumeId())
}

// TestDeleteVolumeFinishesCutOffTrashMove: a DeleteVolume killed inside
// librbd's trash move leaves the image in the trash with its directory
// entry still there (the name lists, the image does not open). The retry
// finishes the move and has the image purged: the pool ends empty.
func TestDeleteVolumeFinishesCutOffTrashMove(t *testing.T) {
	r := newRig(t, 2, 4)
	sess := r.session()
	v := r.create(r.ctrl, r.volReq("pvc-trash-cut", 8<<20))
	img := backend.ImageRef{PoolRef: backend.PoolRef{Pool: r.pool}, Name: image(v)}
	id, err := sess.ImageID(ctx(t), img)
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Trash(ctx(t), img); err != nil {
		t.Fatal(err)
	}
	// What the kill left: the directory entry the move had not removed yet.
	if err := r.admin.LeaveHalfMade(r.pool, "", img.Name, id, false); err != nil {
		t.Fatal(err)
	}
	if c, err := r.admin.Audit(r.pool, ""); err != nil || len(c.Images) != 1 || len(c.Trash) != 1 {
		t.Fatalf("fixture: %v, %v; want the image listed and in the trash", c, err)
	}
	r.deleteVolume(v.GetVolumeId())
	if err := sess.FinishTrashMove(ctx(t), img, "not-in-trash"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("FinishTrashMove(ID not in the trash) = %v, want ErrNotFound", err)
	}
}

// TestDeleteVolumeFinishesCutOffRename: a DeleteVolume of a volume with a
// snapshot killed inside librbd's rename to the tomb leaves the tomb's ID
// object while the directory still names the image by its old name; every
// later rename to the tomb finds it (exists). The retry answers Aborted
// within the bound, then removes that ID object and entombs the image; the
// snapshot stays restorable and the pool ends empty after its delete.
func TestDeleteVolumeFinishesCutOffRename(t *testing.T) {
	r := newRig(t, 2, 4)
	s := r.controller(2, 4, func(c *controller.Config) { c.PartialBound = halfMadeBound })
	v := r.create(s, r.volReq("pvc-rename-cut", 8<<20))
	snap := r.snapshot("snap-rename-cut", v.GetVolumeId())
	sess := r.session()
	id, err := sess.ImageID(ctx(t), backend.ImageRef{PoolRef: backend.PoolRef{Pool: r.pool}, Name: image(v)})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.admin.LeaveCutRename(r.pool, "", "csi-tomb-"+id, id); err != nil {
		t.Fatal(err)
	}
	req := &csi.DeleteVolumeRequest{VolumeId: v.GetVolumeId(), Secrets: r.secrets}
	_, err = s.DeleteVolume(ctx(t), req)
	wantCode(t, err, codes.Aborted, "being renamed")
	eventually(t, 3*halfMadeBound, "the cut-off rename finished", func() bool {
		_, err = s.DeleteVolume(ctx(t), req)
		return err == nil
	})
	restore := r.volReq("pvc-rename-cut-restore", 8<<20)
	restore.VolumeContentSource = csisource.Snapshot(snap.GetSnapshotId())
	restored := r.create(s, restore)
	r.deleteVolume(restored.GetVolumeId())
	r.deleteSnapshot(snap.GetSnapshotId())
}

// TestDeleteVolumeAfterCommittedCutRename: a DeleteVolume killed inside
// librbd's rename after the directory named the tomb leaves the old name's
// ID object. The retry finds the volume entombed, removes that object, and
// the pool ends empty (the rig checks) once the snapshot is deleted.
func TestDeleteVolumeAfterCommittedCutRename(t *testing.T) {
	r := newRig(t, 2, 4)
	v := r.create(r.ctrl, r.volReq("pvc-rename-committed", 8<<20))
	snap := r.snapshot("snap-rename-committed", v.GetVolumeId())
	sess := r.session()
	img := backend.ImageRef{PoolRef: backend.PoolRef{Pool: r.pool}, Name: image(v)}
	id, err := sess.ImageID(ctx(t), img)
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Rename(ctx(t), img, "csi-tomb-"+id); err != nil {
		t.Fatal(err)
	}
	if err := r.admin.LeaveCutRename(r.pool, "", img.Name, id); err != nil { // the old name's ID object
		t.Fatal(err)
	}
	r.deleteVolume(v.GetVolumeId())
	if _, _, err := sess.IDObject(ctx(t), img); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("the old name's ID object after the retried delete: %v, want ErrNotFound", err)
	}
	r.deleteSnapshot(snap.GetSnapshotId())
}
