package integration

import (
	"errors"
	"testing"

	"github.com/seed-6a310834/ceph-csi/shared/csisource"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

func (r *rig) groupSnapshot(name string, vols ...string) (*csi.VolumeGroupSnapshot, error) {
	resp, err := r.ctrl.Group().CreateVolumeGroupSnapshot(ctx(r.t), &csi.CreateVolumeGroupSnapshotRequest{
		Name: name, SourceVolumeIds: vols, Secrets: r.secrets,
		Parameters: map[string]string{"clusterID": r.cl.FSID, "pool": r.pool}})
	return resp.GetGroupSnapshot(), err
}

func (r *rig) deleteGroupSnapshot(id string) {
	r.t.Helper()
	_, err := r.ctrl.Group().DeleteVolumeGroupSnapshot(ctx(r.t), &csi.DeleteVolumeGroupSnapshotRequest{
		GroupSnapshotId: id, Secrets: r.secrets})
	if err != nil {
		r.t.Fatalf("DeleteVolumeGroupSnapshot: %v", err)
	}
}

// memberOf returns the member snapshot of a volume.
func memberOf(t *testing.T, gs *csi.VolumeGroupSnapshot, volID string) *csi.Snapshot {
	t.Helper()
	for _, s := range gs.GetSnapshots() {
		if s.GetSourceVolumeId() == volID {
			return s
		}
	}
	t.Fatalf("group snapshot %v has no member for %s", gs, volID)
	return nil
}

// TestGroupSnapshotRestore takes a group snapshot of two volumes with
// distinct data, writes over both, restores one member and compares bytes;
// on Pacific the members are full copies made through the RBD group's
// snapshot, and nothing of the group is left after the create.
func TestGroupSnapshotRestore(t *testing.T) {
	r := newRig(t, 4, 8)
	a := r.create(r.ctrl, r.volReq("pvc-a", 64*mib))
	b := r.create(r.ctrl, r.volReq("pvc-b", 32*mib))
	r.write(a, 0, "volume a at the group snapshot")
	r.write(b, 4096, "volume b at the group snapshot")
	gs, err := r.groupSnapshot("group-1", a.GetVolumeId(), b.GetVolumeId())
	if err != nil {
		t.Fatal(err)
	}
	if len(gs.GetSnapshots()) != 2 || !gs.GetReadyToUse() {
		t.Fatalf("group snapshot %v", gs)
	}
	r.write(a, 0, "volume a after the snapshot!!")
	r.write(b, 4096, "volume b after the snapshot!!")
	groups, err := r.session().ListGroups(ctx(t), backend.PoolRef{Pool: r.pool})
	if err != nil || len(groups) != 0 {
		t.Errorf("RBD groups after the create: %v, %v", groups, err)
	}
	again, err := r.groupSnapshot("group-1", b.GetVolumeId(), a.GetVolumeId())
	if err != nil || again.GetGroupSnapshotId() != gs.GetGroupSnapshotId() ||
		memberOf(t, again, a.GetVolumeId()).GetSnapshotId() != memberOf(t, gs, a.GetVolumeId()).GetSnapshotId() {
		t.Fatalf("retry: %v, %v", again, err)
	}
	_, err = r.groupSnapshot("group-1", a.GetVolumeId())
	wantCode(t, err, codes.AlreadyExists)
	r.checkMemberImage(memberOf(t, gs, a.GetVolumeId()), 0, "volume a at the group snapshot")
	r.checkMemberImage(memberOf(t, gs, b.GetVolumeId()), 4096, "volume b at the group snapshot")
	snapB := memberOf(t, gs, b.GetVolumeId())
	if snapB.GetSizeBytes() != 32*mib {
		t.Errorf("member of b: %v", snapB)
	}
	req := r.volReq("pvc-restored", 32*mib)
	req.VolumeContentSource = csisource.Snapshot(snapB.GetSnapshotId())
	restored := r.create(r.ctrl, req)
	r.expectData(restored, 4096, "volume b at the group snapshot")
	r.expectData(b, 4096, "volume b after the snapshot!!")
	r.deleteVolume(restored.GetVolumeId())
	r.deleteGroupSnapshot(gs.GetGroupSnapshotId())
	r.deleteGroupSnapshot(gs.GetGroupSnapshotId())
	r.deleteVolume(a.GetVolumeId())
	r.deleteVolume(b.GetVolumeId())
}

// TestGroupSnapshotImageInOtherGroup: a volume already in an RBD group of
// someone else cannot be snapshotted with a group; FailedPrecondition and
// nothing of the attempt is left.
func TestGroupSnapshotImageInOtherGroup(t *testing.T) {
	r := newRig(t, 4, 8)
	a := r.create(r.ctrl, r.volReq("pvc-a", 16*mib))
	b := r.create(r.ctrl, r.volReq("pvc-b", 16*mib))
	sess := r.session()
	foreign := backend.GroupRef{PoolRef: backend.PoolRef{Pool: r.pool}, Name: "foreign"}
	err := errors.Join(sess.CreateGroup(ctx(t), foreign),
		sess.AddGroupImage(ctx(t), foreign, backend.ImageRef{PoolRef: foreign.PoolRef, Name: image(b)}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.groupSnapshot("group-x", a.GetVolumeId(), b.GetVolumeId())
	wantCode(t, err, codes.FailedPrecondition, "foreign")
	if err := sess.RemoveGroup(ctx(t), foreign); err != nil {
		t.Fatal(err)
	}
	r.deleteVolume(a.GetVolumeId())
	r.deleteVolume(b.GetVolumeId())
}

// checkMemberImage reads a member's csi-snap image: it holds the volume's
// data of the group snapshot's point in time and, on Pacific (no
// rbd_clone4), is a full copy without a parent.
func (r *rig) checkMemberImage(snap *csi.Snapshot, off int64, want string) {
	r.t.Helper()
	vid, err := volid.Decode(snap.GetSnapshotId())
	if err != nil {
		r.t.Fatal(err)
	}
	name := "csi-snap-" + vid.UUID
	got, err := r.admin.ReadAt(r.pool, "", name, off, len(want))
	if err != nil || string(got) != want {
		r.t.Errorf("member image %s at %d = %q, %v; want %q", name, off, got, err, want)
	}
	img, err := r.admin.Describe(r.pool, "", name)
	if err != nil || (membersAreCopies && img.HasParent) {
		r.t.Errorf("member image %s: %+v, %v; want a copy without parent (Pacific)", name, img, err)
	}
}
