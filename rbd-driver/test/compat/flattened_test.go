package compat

import (
	"testing"

	"github.com/seed-6a310834/ceph-csi/shared/csisource"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/cephrbd/cephrbdtest"
)

// ceph-csi flattens its restores and clones (its clone depth limits, and
// the temp images of a source with many snapshots): a flattened image no
// longer names its source, yet ceph-csi's own CreateVolume retry answers
// the same volume (it compares only the name and the size).

// TestCephCSIFlattenedRestoreRetry: a retry of ceph-csi's restore whose
// image was flattened is the same volume; a larger size or a volume as
// the source is AlreadyExists.
func TestCephCSIFlattenedRestoreRetry(t *testing.T) {
	r := newRig(t)
	v := r.cephCSIVolume("pvc-source", volumeLayout{})
	s := r.cephCSISnapshot("snapshot-source", v)
	theirs := r.cephCSIRestore("pvc-flat-restore", s, v.size)
	must(t, r.admin.Flatten(r.pool, "", theirs.image))
	if again := r.restoreOf("pvc-flat-restore", s.id, nil); again.GetVolumeId() != theirs.id {
		t.Errorf("CreateVolume retry of the flattened restore gave %s, want %s", again.GetVolumeId(), theirs.id)
	}
	bigger := r.volReq("pvc-flat-restore", 2*fixtureSize, nil)
	bigger.VolumeContentSource = csisource.Snapshot(s.id)
	r.wantAlreadyExists("a larger size", bigger)
	other := r.volReq("pvc-flat-restore", fixtureSize, nil)
	other.VolumeContentSource = csisource.Volume(v.id)
	r.wantAlreadyExists("a volume as the source", other)
	r.deleteVolume(theirs.id)
	r.deleteSnapshot(s.id)
	r.deleteVolume(v.id)
}

// TestCephCSIFlattenedCloneRetry: a retry of ceph-csi's clone whose image
// was flattened (its <image>-temp kept, a clone of the source or flattened
// too) is the same volume; another source volume is AlreadyExists.
// DeleteVolume removes <image>-temp, which the image no longer names as
// its parent, and the pool ends empty.
func TestCephCSIFlattenedCloneRetry(t *testing.T) {
	r := newRig(t)
	v := r.cephCSIVolume("pvc-source", volumeLayout{})
	other := r.cephCSIVolume("pvc-other", volumeLayout{})
	c := r.cephCSIClone("pvc-flat-clone", v)
	must(t, r.admin.Flatten(r.pool, "", c.image))
	both := r.cephCSIClone("pvc-flat-both", v)
	must(t, r.admin.Flatten(r.pool, "", both.image))
	must(t, r.admin.Flatten(r.pool, "", both.image+"-temp"))
	for _, want := range []*cephCSIVolume{c, both} {
		name := map[*cephCSIVolume]string{c: "pvc-flat-clone", both: "pvc-flat-both"}[want]
		if again := r.cloneOf(name, v.id, nil); again.GetVolumeId() != want.id {
			t.Errorf("CreateVolume retry of %s gave %s, want %s", name, again.GetVolumeId(), want.id)
		}
	}
	req := r.volReq("pvc-flat-clone", fixtureSize, nil)
	req.VolumeContentSource = csisource.Volume(other.id)
	r.wantAlreadyExists("another source volume", req)
	for _, gone := range []*cephCSIVolume{c, both} {
		r.deleteVolume(gone.id)
		if _, err := r.admin.ImageID(r.pool, "", gone.image+"-temp"); err == nil {
			t.Errorf("DeleteVolume left %s-temp", gone.image)
		}
	}
	r.deleteVolume(other.id)
	r.deleteVolume(v.id)
	if got, err := r.admin.WaitEmpty(r.pool, "", drainTimeout); err != nil || !got.Empty() {
		t.Errorf("after the deletes the pool holds %v (%v)", got, err)
	}
}

func (r *rig) wantAlreadyExists(what string, req *csi.CreateVolumeRequest) {
	r.t.Helper()
	if _, err := r.ctrl.CreateVolume(ctx(r.t), req); status.Code(err) != codes.AlreadyExists {
		r.t.Errorf("CreateVolume retry of %s with %s: %v, want AlreadyExists", req.GetName(), what, err)
	}
}

// TestCephCSITempNotTheirs: an image named like ceph-csi's temp image of a
// volume that carries a snapshot ceph-csi never takes is not ceph-csi's:
// DeleteVolume of the volume leaves it.
func TestCephCSITempNotTheirs(t *testing.T) {
	r := newRig(t)
	v := r.cephCSIVolume("pvc-plain", volumeLayout{})
	temp := v.image + "-temp"
	_, err := r.admin.CreateImage(r.pool, "", temp, fixtureSize, "layering")
	must(t, err)
	must(t, r.admin.CreateSnapshot(r.pool, "", temp, "backup"))
	r.deleteVolume(v.id)
	if _, err := r.admin.ImageID(r.pool, "", temp); err != nil {
		t.Errorf("DeleteVolume removed the unrelated %s: %v", temp, err)
	}
	must(t, r.admin.RemoveSnapshot(r.pool, "", temp, "backup"))
	f, err := cephrbdtest.NewFloor(r.admin, r.pool, nil)
	must(t, err)
	defer f.Close()
	must(t, f.Remove(temp))
}
