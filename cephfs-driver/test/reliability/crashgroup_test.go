package reliability

import (
	"context"
	"fmt"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/protobuf/proto"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/cephfs"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
)

// The volume group snapshot flows work on two source volumes, so that
// every step between two members is crashed at too.

// groupSources are the two volumes of the group flows, made by their setup.
type groupSources struct{ a, b string }

func (g *groupSources) create(r *rig, d *driver) {
	g.a = r.must(d, "CreateVolume(group source a)", r.createVolume("group-a", volSize, nil))
	g.b = r.must(d, "CreateVolume(group source b)", r.createVolume("group-b", volSize, nil))
}

func (g *groupSources) remove(r *rig, d *driver) {
	r.must(d, "DeleteVolume(group source a)", r.deleteVolume(g.a))
	r.must(d, "DeleteVolume(group source b)", r.deleteVolume(g.b))
}

func (r *rig) createGroupSnapshot(name string, volIDs ...string) call {
	req := &csi.CreateVolumeGroupSnapshotRequest{Name: name, SourceVolumeIds: volIDs, Secrets: r.secrets(),
		Parameters: map[string]string{"clusterID": r.cluster.FSID, "fsName": fsName}}
	return func(ctx context.Context, c csi.ControllerClient) (string, error) {
		resp, err := groupClient(c).CreateVolumeGroupSnapshot(ctx, req)
		return resp.GetGroupSnapshot().GetGroupSnapshotId(), err
	}
}

func (r *rig) deleteGroupSnapshot(id string) call {
	req := &csi.DeleteVolumeGroupSnapshotRequest{GroupSnapshotId: id, Secrets: r.secrets()}
	return func(ctx context.Context, c csi.ControllerClient) (string, error) {
		_, err := groupClient(c).DeleteVolumeGroupSnapshot(ctx, req)
		return "", err
	}
}

// groupMembers reads the member snapshot IDs of a group snapshot.
func (r *rig) groupMembers(d *driver, groupID string) map[string]string {
	r.t.Helper()
	ctx, cancel := callCtx()
	defer cancel()
	resp, err := groupClient(d.ctrl).GetVolumeGroupSnapshot(ctx,
		&csi.GetVolumeGroupSnapshotRequest{GroupSnapshotId: groupID, Secrets: r.secrets()})
	if err != nil {
		r.t.Fatalf("GetVolumeGroupSnapshot(%s): %v\n%s", groupID, err, d.Log())
	}
	out := map[string]string{}
	for _, s := range resp.GetGroupSnapshot().GetSnapshots() {
		out[s.GetSourceVolumeId()] = s.GetSnapshotId()
	}
	return out
}

// withGroup is st plus group snapshot groupID created under name, whose
// members are snapshots of volume -> snapshot ID in members.
func withGroup(r *rig, st state, name, groupID string, members map[string]string) state {
	gid := uuidOf(r.t, groupID)
	out := st.clone()
	for volID, snapID := range members {
		out = withSnapshot(r.t, out, journal.GroupMemberRequestName(journal.DefaultGroupNamePrefix+gid, volID), snapID, volID)
	}
	out.Groups = append(out.Groups, "csi.volume.group."+name)
	out.Objects = append(out.Objects, "csi.volume.group."+gid)
	return out
}

// createGroupSnapshotFlow crashes CreateVolumeGroupSnapshot of two volumes
// after every write: the group record, the member set, each member's
// snapshot reservation, subvolume snapshot and record, the snapshot IDs.
func createGroupSnapshotFlow() flow {
	src := &groupSources{}
	twice := func(name string) []step { return []step{{name: name}, {name: name, skip: 1}} }
	var st []step
	st = append(st, steps(journal.StepGroupReserveUUIDCreated, journal.StepGroupReserveDirectoryWritten,
		journal.StepGroupMembersAdded)...)
	st = append(st, step{name: journal.StepReserveUUIDCreated}, step{name: journal.StepReserveDirectoryWritten},
		step{name: journal.StepReserveUUIDCreated, skip: 1}, step{name: journal.StepReserveDirectoryWritten, skip: 1})
	st = append(st, twice(cephfs.StepSnapshotCreated)...)
	st = append(st, twice(journal.StepAttributesSet)...)
	st = append(st, step{name: journal.StepGroupMembersAdded, skip: 1})
	return flow{
		name:     "CreateVolumeGroupSnapshot",
		steps:    st,
		setup:    src.create,
		teardown: src.remove,
		arrange: func(r *rig, d *driver, n int, before state) attempt {
			name := fmt.Sprintf("crash-group-%d", n)
			return attempt{
				call: r.createGroupSnapshot(name, src.a, src.b),
				expect: func(id string) state {
					return withGroup(r, before, name, id, r.groupMembers(d, id))
				},
				cleanup: func(d *driver, id string) { r.must(d, "DeleteVolumeGroupSnapshot", r.deleteGroupSnapshot(id)) },
			}
		},
	}
}

// deleteGroupSnapshotFlow crashes DeleteVolumeGroupSnapshot after every
// write: each member snapshot's removal and record, each member's entry,
// the group record.
func deleteGroupSnapshotFlow() flow {
	src := &groupSources{}
	var st []step
	for skip := 0; skip < 2; skip++ {
		st = append(st, step{name: cephfs.StepSnapshotRemoved, skip: skip},
			step{name: journal.StepUndoDirectoryRemoved, skip: skip}, step{name: journal.StepUndoUUIDRemoved, skip: skip},
			step{name: journal.StepGroupMembersRemoved, skip: skip})
	}
	st = append(st, steps(journal.StepGroupUndoDirectoryRemoved, journal.StepGroupUndoUUIDRemoved)...)
	return flow{
		name:     "DeleteVolumeGroupSnapshot",
		steps:    st,
		setup:    src.create,
		teardown: src.remove,
		arrange: func(r *rig, d *driver, n int, before state) attempt {
			id := r.must(d, "CreateVolumeGroupSnapshot", r.createGroupSnapshot(fmt.Sprintf("crash-delgroup-%d", n), src.a, src.b))
			return attempt{call: r.deleteGroupSnapshot(id), expect: func(string) state { return before }}
		},
	}
}

// TestGroupFlowsCoverEveryGroupCrashPoint: every crash point of the group
// journal is crashed at by a flow (a group crash point added without a
// flow fails here).
func TestGroupFlowsCoverEveryGroupCrashPoint(t *testing.T) {
	covered := map[string]bool{}
	for _, newFlow := range crashFlows() {
		for _, s := range newFlow().steps {
			covered[s.name] = true
		}
	}
	for _, name := range journal.GroupCrashSteps {
		if !covered[name] {
			t.Errorf("no crash flow covers %s", name)
		}
	}
}

// TestGroupTwins races 32 identical CreateVolumeGroupSnapshot calls of two
// volumes, split between two driver processes, then 32
// DeleteVolumeGroupSnapshot calls: every call answers the same group
// (creation times included) or Aborted, the cluster holds exactly one
// group with one snapshot per volume, and nothing after the deletes.
func TestGroupTwins(t *testing.T) {
	r := newRig(t)
	drivers := []*driver{r.start("a"), r.start("b")}
	src := &groupSources{}
	src.create(r, drivers[0])
	before := r.mustState()
	req := &csi.CreateVolumeGroupSnapshotRequest{Name: "twin-group", SourceVolumeIds: []string{src.a, src.b},
		Secrets: r.secrets(), Parameters: map[string]string{"clusterID": r.cluster.FSID, "fsName": fsName}}
	create := func(ctx context.Context, c csi.ControllerClient) (proto.Message, error) {
		return groupClient(c).CreateVolumeGroupSnapshot(ctx, req)
	}
	group := r.twins(drivers, "CreateVolumeGroupSnapshot", create).(*csi.CreateVolumeGroupSnapshotResponse).GetGroupSnapshot()
	members := map[string]string{}
	for _, s := range group.GetSnapshots() {
		members[s.GetSourceVolumeId()] = s.GetSnapshotId()
	}
	if len(members) != 2 {
		t.Fatalf("group %v, want 2 members", group)
	}
	r.waitState("after the twin group creates", withGroup(r, before, "twin-group", group.GetGroupSnapshotId(), members))
	del := &csi.DeleteVolumeGroupSnapshotRequest{GroupSnapshotId: group.GetGroupSnapshotId(), Secrets: r.secrets()}
	r.twins(drivers, "DeleteVolumeGroupSnapshot", func(ctx context.Context, c csi.ControllerClient) (proto.Message, error) {
		return groupClient(c).DeleteVolumeGroupSnapshot(ctx, del)
	})
	r.waitState("after the twin group deletes", before)
	src.remove(r, drivers[1])
}
