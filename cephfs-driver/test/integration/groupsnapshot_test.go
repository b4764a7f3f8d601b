package integration

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/test/rig"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// TestGroupSnapshot takes a volume group snapshot of two volumes with data
// on the real cluster: the group is journaled in ceph-csi's layout, its
// members are ordinary subvolume snapshots (restorable, with the data of
// the moment of the group snapshot), a retry returns the same IDs, another
// volume set under the name is AlreadyExists, and Delete leaves nothing.
func TestGroupSnapshot(t *testing.T) {
	e := newEnv(t)
	a := e.CreateVolume("group-a", 32*rig.MiB, nil, rig.RWX)
	b := e.CreateVolume("group-b", 32*rig.MiB, nil, rig.RWX)
	stagingA, stagingB := e.Path("a"), e.Path("b")
	e.MustStage(a, stagingA, rig.RWX)
	e.MustStage(b, stagingB, rig.RWX)
	rig.WriteFile(t, filepath.Join(stagingA, "data"), "a before")
	rig.WriteFile(t, filepath.Join(stagingB, "data"), "b before")
	req := &csi.CreateVolumeGroupSnapshotRequest{Name: "groupsnapshot-1", Secrets: e.AdminSecrets(),
		SourceVolumeIds: []string{a.GetVolumeId(), b.GetVolumeId()},
		Parameters:      map[string]string{"clusterID": e.Cluster.FSID, "fsName": rig.FSName}}
	resp, err := e.GroupCtrl.CreateVolumeGroupSnapshot(e.Ctx(), req)
	if err != nil {
		t.Fatal(err)
	}
	group := resp.GetGroupSnapshot()
	rig.WriteFile(t, filepath.Join(stagingA, "data"), "a after")
	members := groupMembers(t, group)
	again, err := e.GroupCtrl.CreateVolumeGroupSnapshot(e.Ctx(), req)
	if err != nil || again.GetGroupSnapshot().GetGroupSnapshotId() != group.GetGroupSnapshotId() ||
		groupMembers(t, again.GetGroupSnapshot())[a.GetVolumeId()] != members[a.GetVolumeId()] {
		t.Fatalf("retry: %v, %v; want %v", again, err, group)
	}
	other := &csi.CreateVolumeGroupSnapshotRequest{Name: req.GetName(), Secrets: req.GetSecrets(),
		SourceVolumeIds: []string{a.GetVolumeId()}}
	if _, err := e.GroupCtrl.CreateVolumeGroupSnapshot(e.Ctx(), other); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("another volume set under the name: %v, want AlreadyExists", err)
	}
	e.checkGroupJournal(group, members)
	restored := e.CreateVolume("restored-a", 32*rig.MiB, rig.SnapshotSource(members[a.GetVolumeId()]), rig.RWX)
	e.checkClone(restored, "a before")
	got, err := e.GroupCtrl.GetVolumeGroupSnapshot(e.Ctx(), &csi.GetVolumeGroupSnapshotRequest{
		GroupSnapshotId: group.GetGroupSnapshotId(), Secrets: e.AdminSecrets()})
	if err != nil || len(groupMembers(t, got.GetGroupSnapshot())) != 2 {
		t.Fatalf("GetVolumeGroupSnapshot: %v, %v", got, err)
	}
	e.DeleteVolume(restored.GetVolumeId())
	for range 2 {
		if _, err := e.GroupCtrl.DeleteVolumeGroupSnapshot(e.Ctx(), &csi.DeleteVolumeGroupSnapshotRequest{
			GroupSnapshotId: group.GetGroupSnapshotId(), Secrets: e.AdminSecrets()}); err != nil {
			t.Fatal(err)
		}
	}
	for _, vol := range []*csi.Volume{a, b} {
		if snaps, err := e.Admin.ListSnapshots(context.Background(), e.subvolume(vol)); err != nil || len(snaps) != 0 {
			t.Fatalf("snapshots of %s after the group's deletion: %v, %v", vol.GetVolumeId(), snaps, err)
		}
	}
	e.Unstage(a, stagingA)
	e.Unstage(b, stagingB)
	e.DeleteVolume(a.GetVolumeId())
	e.DeleteVolume(b.GetVolumeId())
}

// groupMembers returns source volume ID -> snapshot ID of a group.
func groupMembers(t *testing.T, g *csi.VolumeGroupSnapshot) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, s := range g.GetSnapshots() {
		if s.GetGroupSnapshotId() != g.GetGroupSnapshotId() || !s.GetReadyToUse() || s.GetSizeBytes() != 32*rig.MiB {
			t.Fatalf("member %v of group %s", s, g.GetGroupSnapshotId())
		}
		out[s.GetSourceVolumeId()] = s.GetSnapshotId()
	}
	if len(out) != 2 {
		t.Fatalf("group %s has members %v, want 2", g.GetGroupSnapshotId(), out)
	}
	return out
}

// checkGroupJournal reads the group's records as ceph-csi would: the
// directory csi.groups.<instance> maps the request name to the UUID of the
// group ID, whose object maps each volume ID to its snapshot ID; each
// member snapshot is reserved as "<group name>-<volume ID>".
func (e *env) checkGroupJournal(group *csi.VolumeGroupSnapshot, members map[string]string) {
	t := e.T
	t.Helper()
	ctx := context.Background()
	gid, err := volid.Decode(group.GetGroupSnapshotId())
	if err != nil {
		t.Fatal(err)
	}
	dir, err := e.Store.GetOmapValues(ctx, "csi.groups."+e.Instance, []string{"csi.volume.group.groupsnapshot-1"})
	if err != nil || dir["csi.volume.group.groupsnapshot-1"] != gid.UUID {
		t.Fatalf("group directory entry %v, %v; want %s", dir, err, gid.UUID)
	}
	obj, err := e.Store.ListOmap(ctx, "csi.volume.group."+gid.UUID, "")
	if err != nil || obj["csi.volname"] != "groupsnapshot-1" || obj["csi.groupname"] != "csi-vol-group-"+gid.UUID ||
		obj["csi.creationtime"] == "" {
		t.Fatalf("group object %v, %v", obj, err)
	}
	snaps := journal.New(e.Store, journal.Options{Kind: journal.Snapshots, Instance: e.Instance})
	for volID, snapID := range members {
		if obj[volID] != snapID {
			t.Fatalf("group object maps %s to %q, want %s", volID, obj[volID], snapID)
		}
		rec, err := snaps.Lookup(ctx, journal.GroupMemberRequestName("csi-vol-group-"+gid.UUID, volID))
		if sid, _ := volid.Decode(snapID); err != nil || rec.UUID != sid.UUID {
			t.Fatalf("member snapshot record of %s: %+v, %v; want UUID of %s", volID, rec, err, snapID)
		}
	}
}
