package audit_test

import (
	"io"
	"slices"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/seed-6a310834/ceph-csi/shared/audit"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
)

func (r *rig) groupSnapshot(name string, vols ...*csi.Volume) *csi.VolumeGroupSnapshot {
	r.t.Helper()
	ids := make([]string, len(vols))
	for i, v := range vols {
		ids[i] = v.GetVolumeId()
	}
	resp, err := r.ctrl.CreateVolumeGroupSnapshot(ctx(r.t), &csi.CreateVolumeGroupSnapshotRequest{Name: name,
		SourceVolumeIds: ids, Secrets: r.secrets})
	if err != nil {
		r.t.Fatalf("CreateVolumeGroupSnapshot(%s): %v", name, err)
	}
	return resp.GetGroupSnapshot()
}

// TestAuditGroupSnapshots: a healthy group snapshot (and its member
// snapshots) is not reported; a dangling group entry, an unreferenced
// group object, a group whose creation stopped after a member snapshot was
// taken and recorded, and a group whose member snapshots are all gone are;
// --delete --grace=0s removes exactly those (the stopped group's member
// snapshot too) and the healthy group still deletes.
func TestAuditGroupSnapshots(t *testing.T) {
	r := newRig(t)
	a, b := r.createVolume("pvc-a", nil, false), r.createVolume("pvc-b", nil, false)
	healthy := r.groupSnapshot("groupsnapshot-ok", a, b)
	groups := journal.NewGroups(r.store, journal.GroupOptions{Instance: instance})
	w := r.where() + "/"
	// A dangling entry, an unreferenced object.
	dangling, err := groups.Reserve(ctx(t), "groupsnapshot-dangling", "")
	r.must(err)
	r.must(r.store.Remove(ctx(t), groups.UUIDObject(dangling.UUID)))
	unlisted, err := groups.Reserve(ctx(t), "groupsnapshot-unlisted", "")
	r.must(err)
	r.must(r.store.RemoveOmapKeys(ctx(t), groups.DirectoryObject(), []string{"csi.volume.group.groupsnapshot-unlisted"}))
	// A group whose member snapshot was taken and recorded, but whose
	// snapshot IDs were never written: the CO has none of its IDs.
	stopped, err := groups.Reserve(ctx(t), "groupsnapshot-stopped", "")
	r.must(err)
	r.must(groups.AddMembers(ctx(t), stopped.UUID, map[string]string{a.GetVolumeId(): ""}))
	member := r.Snapshot(journal.GroupMemberRequestName(stopped.GroupName, a.GetVolumeId()), a.GetVolumeId())
	// A complete group whose member snapshot is gone.
	gone := r.groupSnapshot("groupsnapshot-gone", b)
	r.DeleteSnapshot(gone.GetSnapshots()[0].GetSnapshotId())
	goneID := gone.GetGroupSnapshotId()[len(gone.GetGroupSnapshotId())-36:]

	want := []string{
		"dangling-entry " + w + "csi.groups." + instance + "[groupsnapshot-dangling]",
		"unreferenced-record " + w + "csi.volume.group." + unlisted.UUID,
		"incomplete " + w + "csi.volume.group." + stopped.UUID,
		"missing-object " + w + "csi.volume.group." + goneID,
	}
	slices.Sort(want)
	if got := slices.Sorted(slices.Values(r.scan())); !slices.Equal(got, want) {
		t.Fatalf("findings\n%v\nwant\n%v", got, want)
	}
	findings, err := r.scanFindings()
	r.must(err)
	if _, err := audit.Run(ctx(t), findings, audit.Options{Delete: true, Out: io.Discard,
		Policy: audit.Policy{Grace: 0, Now: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	if got := r.scan(); len(got) != 0 {
		t.Fatalf("after --delete --grace=0s: %v", got)
	}
	if snaps, _ := r.admin.ListSnapshots(ctx(t), r.sub(a.GetVolumeContext()["subvolumeName"])); len(snaps) != 1 {
		t.Fatalf("volume A's snapshots %v: want only the healthy group's member (%s removed)", snaps, member.GetSnapshotId())
	}
	if _, err := r.ctrl.DeleteVolumeGroupSnapshot(ctx(t), &csi.DeleteVolumeGroupSnapshotRequest{
		GroupSnapshotId: healthy.GetGroupSnapshotId(), Secrets: r.secrets}); err != nil {
		t.Fatal(err)
	}
	r.must(r.store.Remove(ctx(t), groups.DirectoryObject()))
	r.DeleteVolume(a.GetVolumeId())
	r.DeleteVolume(b.GetVolumeId())
}
