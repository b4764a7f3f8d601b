package audit_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/google/uuid"

	rbdaudit "github.com/seed-6a310834/ceph-csi/rbd-driver/internal/audit"
	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/audit"
	"github.com/seed-6a310834/ceph-csi/shared/audit/audittest"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// TestAuditGroupSnapshots: a group snapshot made by the controller is
// healthy (its group record, member records and csi-snap images are not
// reported); a dangling group directory entry, an unreferenced group
// record, a record whose members are all gone and an RBD group of ours
// without a record are reported, and each finding's removal deletes it.
func TestAuditGroupSnapshots(t *testing.T) {
	r := newRig(t)
	a, b := r.createVolume("pvc-ga", nil), r.createVolume("pvc-gb", nil)
	gs, err := r.ctrl.Group().CreateVolumeGroupSnapshot(ctx(t), &csi.CreateVolumeGroupSnapshotRequest{
		Name: "group-ok", SourceVolumeIds: []string{a.GetVolumeId(), b.GetVolumeId()}, Secrets: r.secrets})
	if err != nil {
		t.Fatal(err)
	}
	audittest.Equal(t, "findings of a healthy group snapshot", r.scan(), nil)
	c := r.createVolume("pvc-gc", nil)
	want := append(r.makeGroupOrphans(a.GetVolumeId()), r.makeStuckGroup(c))
	audittest.Equal(t, "findings", r.scan(), want)
	findings, err := rbdaudit.Scan(ctx(t), rbdaudit.Config{Session: r.sess, Pool: pool, Instance: instance,
		VolumePrefixes: audit.NewPrefixes(audit.VolumePrefix), SnapshotPrefixes: audit.NewPrefixes(audit.SnapshotPrefix)})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range findings {
		if err := f.Remove(ctx(t)); err != nil {
			t.Errorf("remove %s %s: %v", f.Kind, f.Name, err)
		}
	}
	audittest.Equal(t, "findings after the removals", r.scan(), nil)
	_, err = r.ctrl.Group().DeleteVolumeGroupSnapshot(ctx(t), &csi.DeleteVolumeGroupSnapshotRequest{
		GroupSnapshotId: gs.GetGroupSnapshot().GetGroupSnapshotId(), Secrets: r.secrets})
	if err != nil {
		t.Fatal(err)
	}
	r.DeleteVolume(a.GetVolumeId())
	r.DeleteVolume(b.GetVolumeId())
	// Out of its RBD group and without the group's snapshot, the volume's
	// image purges (the rig's cleanup waits for an empty pool).
	r.DeleteVolume(c.GetVolumeId())
}

// makeStuckGroup leaves what a CreateVolumeGroupSnapshot stopped after the
// group snapshot leaves: the record, a member record without its image, and
// the RBD group holding the volume and its group snapshot.
func (r *rig) makeStuckGroup(vol *csi.Volume) string {
	r.t.Helper()
	j := journal.NewGroups(r.store, journal.GroupOptions{Instance: instance})
	rec, err := j.Reserve(ctx(r.t), "stuck", "")
	if err != nil {
		r.t.Fatal(err)
	}
	member, err := r.journal(journal.Snapshots).Reserve(ctx(r.t), journal.Reservation{
		RequestName: journal.GroupMemberRequestName("stuck", vol.GetVolumeId()),
		Source:      vol.GetVolumeContext()["imageName"], ImagePoolID: journal.SamePool})
	if err != nil {
		r.t.Fatal(err)
	}
	vid, _ := volid.Decode(vol.GetVolumeId())
	snapID, _ := volid.ID{ClusterID: vid.ClusterID, LocationID: vid.LocationID, UUID: member.UUID}.Encode()
	g := backend.GroupRef{PoolRef: backend.PoolRef{Pool: pool}, Name: rec.GroupName}
	err = errors.Join(j.AddMembers(ctx(r.t), rec.UUID, map[string]string{vol.GetVolumeId(): snapID}),
		r.sess.CreateGroup(ctx(r.t), g),
		r.sess.AddGroupImage(ctx(r.t), g, r.ref(vol.GetVolumeContext()["imageName"])),
		r.sess.CreateGroupSnapshot(ctx(r.t), backend.GroupSnapRef{Group: g, Snap: g.Name}))
	if err != nil {
		r.t.Fatal(err)
	}
	return fmt.Sprintf("incomplete %s/%s", pool, j.UUIDObject(rec.UUID))
}

// makeGroupOrphans makes one orphan of each group kind and returns the
// findings expected.
func (r *rig) makeGroupOrphans(volID string) []string {
	r.t.Helper()
	j := journal.NewGroups(r.store, journal.GroupOptions{Instance: instance})
	dangling, unreferenced := uuid.NewString(), uuid.NewString()
	rbdGroup := journal.DefaultGroupNamePrefix + uuid.NewString()
	dir := j.DirectoryObject()
	if err := r.store.SetOmap(ctx(r.t), dir, map[string]string{"csi.volume.group.gone": dangling}); err != nil {
		r.t.Fatal(err)
	}
	err := r.store.CreateWithOmap(ctx(r.t), j.UUIDObject(unreferenced),
		map[string]string{"csi.volname": "lost", "csi.groupname": journal.DefaultGroupNamePrefix + unreferenced})
	if err != nil {
		r.t.Fatal(err)
	}
	vid, _ := volid.Decode(volID)
	missingSnap, _ := volid.ID{ClusterID: vid.ClusterID, LocationID: vid.LocationID, UUID: uuid.NewString()}.Encode()
	empty, err := j.Reserve(ctx(r.t), "emptied", "")
	if err == nil {
		err = j.AddMembers(ctx(r.t), empty.UUID, map[string]string{volID: missingSnap})
	}
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.sess.CreateGroup(ctx(r.t), backend.GroupRef{PoolRef: backend.PoolRef{Pool: pool}, Name: rbdGroup}); err != nil {
		r.t.Fatal(err)
	}
	return []string{
		fmt.Sprintf("dangling-entry %s[gone]", dir),
		fmt.Sprintf("unreferenced-record %s/%s", pool, j.UUIDObject(unreferenced)),
		fmt.Sprintf("missing-object %s/%s", pool, j.UUIDObject(empty.UUID)),
		fmt.Sprintf("unrecorded %s/%s", pool, rbdGroup),
	}
}
