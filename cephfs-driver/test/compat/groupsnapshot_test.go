package compat

import (
	"context"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/google/uuid"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/test/rig"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
)

// cephCSIGroupSnapshot does what ceph-csi's CephFS
// CreateVolumeGroupSnapshot (v3.12+) leaves for request name on vols:
// ReserveName creates the empty object csi.volume.group.<uuid>, writes
// csi.volume.group.<name> = <uuid> in csi.groups.<instance>, then
// csi.volname, csi.groupname (csi-vol-group-<uuid>) and csi.creationtime
// (time.Time's text, local zone); each member is an ordinary snapshot of
// request name "<group name>-<volume ID>", recorded with AddVolumesMapping
// as <volume ID> = <snapshot ID>. It returns the group's ID and the
// members' snapshot IDs by volume ID.
func (e *env) cephCSIGroupSnapshot(name string, vols ...*csi.Volume) (string, map[string]string) {
	e.T.Helper()
	id := uuid.NewString()
	oid := "csi.volume.group." + id
	if err := e.Store.CreateWithOmap(context.Background(), oid, nil); err != nil {
		e.T.Fatal(err)
	}
	e.setOmap("csi.groups."+e.Instance, map[string]string{"csi.volume.group." + name: id})
	created, _ := time.Now().In(time.FixedZone("CEST", 2*3600)).MarshalText()
	e.setOmap(oid, map[string]string{"csi.volname": name, "csi.groupname": "csi-vol-group-" + id,
		"csi.creationtime": string(created)})
	members := map[string]string{}
	for _, v := range vols {
		snapID := e.cephCSISnapshot(journal.GroupMemberRequestName("csi-vol-group-"+id, v.GetVolumeId()), v)
		e.setOmap(oid, map[string]string{v.GetVolumeId(): snapID})
		members[v.GetVolumeId()] = snapID
	}
	return e.encodeID(id), members
}

// TestCephCSIGroupSnapshot: a group snapshot ceph-csi made is answered on
// a retry of its CreateVolumeGroupSnapshot (same group and member IDs),
// shown by GetVolumeGroupSnapshot, its members restore, and
// DeleteVolumeGroupSnapshot removes the members and the records.
func TestCephCSIGroupSnapshot(t *testing.T) {
	e := newEnv(t)
	a := e.CreateVolume("pvc-a", 64*rig.MiB, nil, rig.RWX)
	b := e.CreateVolume("pvc-b", 64*rig.MiB, nil, rig.RWX)
	groupID, members := e.cephCSIGroupSnapshot("groupsnapshot-cephcsi", a, b)
	resp, err := e.GroupCtrl.CreateVolumeGroupSnapshot(e.Ctx(), &csi.CreateVolumeGroupSnapshotRequest{
		Name: "groupsnapshot-cephcsi", SourceVolumeIds: []string{b.GetVolumeId(), a.GetVolumeId()},
		Secrets: e.AdminSecrets(), Parameters: map[string]string{"clusterID": e.Cluster.FSID, "fsName": rig.FSName}})
	if err != nil || resp.GetGroupSnapshot().GetGroupSnapshotId() != groupID {
		t.Fatalf("retried CreateVolumeGroupSnapshot = %v, %v; want group %s", resp, err, groupID)
	}
	got, err := e.GroupCtrl.GetVolumeGroupSnapshot(e.Ctx(), &csi.GetVolumeGroupSnapshotRequest{
		GroupSnapshotId: groupID, Secrets: e.AdminSecrets()})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []*csi.VolumeGroupSnapshot{resp.GetGroupSnapshot(), got.GetGroupSnapshot()} {
		if len(g.GetSnapshots()) != 2 {
			t.Fatalf("group %v, want 2 members", g)
		}
		for _, s := range g.GetSnapshots() {
			if members[s.GetSourceVolumeId()] != s.GetSnapshotId() || s.GetSizeBytes() != 64*rig.MiB ||
				s.GetGroupSnapshotId() != groupID {
				t.Fatalf("member %v, want snapshot %s of 64 MiB", s, members[s.GetSourceVolumeId()])
			}
		}
	}
	restored := e.CreateVolume("pvc-restored", 64*rig.MiB, rig.SnapshotSource(members[a.GetVolumeId()]), rig.RWX)
	e.DeleteVolume(restored.GetVolumeId())
	if _, err := e.GroupCtrl.DeleteVolumeGroupSnapshot(e.Ctx(), &csi.DeleteVolumeGroupSnapshotRequest{
		GroupSnapshotId: groupID, Secrets: e.AdminSecrets()}); err != nil {
		t.Fatal(err)
	}
	e.DeleteVolume(a.GetVolumeId())
	e.DeleteVolume(b.GetVolumeId())
}
