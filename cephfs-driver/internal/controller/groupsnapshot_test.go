package controller

import (
	"context"
	"sort"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/volctx"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

func groupReq(name string, volIDs ...string) *csi.CreateVolumeGroupSnapshotRequest {
	return &csi.CreateVolumeGroupSnapshotRequest{Name: name, SourceVolumeIds: volIDs,
		Parameters: map[string]string{volctx.ClusterID: testCluster, volctx.FSName: testFS}, Secrets: secrets()}
}

func (f *fixture) group(req *csi.CreateVolumeGroupSnapshotRequest) *csi.VolumeGroupSnapshot {
	f.t.Helper()
	resp, err := f.srv.CreateVolumeGroupSnapshot(context.Background(), req)
	if err != nil {
		f.t.Fatalf("CreateVolumeGroupSnapshot(%s): %v", req.GetName(), err)
	}
	return resp.GetGroupSnapshot()
}

func (f *fixture) deleteGroup(id string) error {
	_, err := f.srv.DeleteVolumeGroupSnapshot(context.Background(),
		&csi.DeleteVolumeGroupSnapshotRequest{GroupSnapshotId: id, Secrets: secrets()})
	return err
}

// groupsJournal is the group journal of the test file system.
func (f *fixture) groupsJournal() *journal.Groups {
	return journal.NewGroups(f.conn.Store(testFS+".meta", "csi"), journal.GroupOptions{Instance: "unit"})
}

// memberMap returns source volume ID -> snapshot ID of a group snapshot.
func memberMap(t *testing.T, g *csi.VolumeGroupSnapshot) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, s := range g.GetSnapshots() {
		if s.GetGroupSnapshotId() != g.GetGroupSnapshotId() || !s.GetReadyToUse() || s.GetSnapshotId() == "" {
			t.Fatalf("member %+v of group %s", s, g.GetGroupSnapshotId())
		}
		out[s.GetSourceVolumeId()] = s.GetSnapshotId()
	}
	return out
}

func TestGroupControllerCapabilities(t *testing.T) {
	f := newFixture(t)
	caps, err := f.srv.GroupControllerGetCapabilities(context.Background(), &csi.GroupControllerGetCapabilitiesRequest{})
	if err != nil || len(caps.GetCapabilities()) != 1 || caps.GetCapabilities()[0].GetRpc().GetType() !=
		csi.GroupControllerServiceCapability_RPC_CREATE_DELETE_GET_VOLUME_GROUP_SNAPSHOT {
		t.Fatalf("GroupControllerGetCapabilities = %v, %v", caps, err)
	}
}

// TestGroupSnapshotLifecycle: a group of two volumes is journaled in
// ceph-csi's layout, idempotent by name, readable by Get, its members are
// ordinary snapshots (listed, restorable), and Delete removes everything.
func TestGroupSnapshotLifecycle(t *testing.T) {
	f := newFixture(t)
	a, b := f.create(createReq("a", gib)), f.create(createReq("b", gib))
	g := f.group(groupReq("groupsnapshot-1", a.GetVolumeId(), b.GetVolumeId()))
	members := memberMap(t, g)
	if len(members) != 2 || members[a.GetVolumeId()] == "" || members[b.GetVolumeId()] == "" {
		t.Fatalf("members %v", members)
	}
	if again := f.group(groupReq("groupsnapshot-1", b.GetVolumeId(), a.GetVolumeId())); again.GetGroupSnapshotId() !=
		g.GetGroupSnapshotId() || len(memberMap(t, again)) != 2 || memberMap(t, again)[a.GetVolumeId()] != members[a.GetVolumeId()] {
		t.Fatalf("retry gave %+v, want %+v", again, g)
	}
	gid, _ := volid.Decode(g.GetGroupSnapshotId())
	rec, err := f.groupsJournal().Lookup(context.Background(), "groupsnapshot-1")
	if err != nil || rec.UUID != gid.UUID || len(rec.Members) != 2 || rec.Members[a.GetVolumeId()] != members[a.GetVolumeId()] {
		t.Fatalf("group journal record %+v, %v", rec, err)
	}
	got, err := f.srv.GetVolumeGroupSnapshot(context.Background(), &csi.GetVolumeGroupSnapshotRequest{
		GroupSnapshotId: g.GetGroupSnapshotId(), SnapshotIds: []string{members[a.GetVolumeId()], members[b.GetVolumeId()]},
		Secrets: secrets()})
	if err != nil || len(memberMap(t, got.GetGroupSnapshot())) != 2 {
		t.Fatalf("GetVolumeGroupSnapshot = %v, %v", got, err)
	}
	_, err = f.srv.GetVolumeGroupSnapshot(context.Background(), &csi.GetVolumeGroupSnapshotRequest{
		GroupSnapshotId: g.GetGroupSnapshotId(), SnapshotIds: []string{members[a.GetVolumeId()]}, Secrets: secrets()})
	wantCode(t, err, codes.InvalidArgument, "snapshot_ids")
	list, err := f.srv.ListSnapshots(context.Background(), &csi.ListSnapshotsRequest{
		SnapshotId: members[a.GetVolumeId()], Secrets: secrets()})
	if err != nil || len(list.GetEntries()) != 1 || list.GetEntries()[0].GetSnapshot().GetGroupSnapshotId() != g.GetGroupSnapshotId() {
		t.Fatalf("ListSnapshots of a member = %v, %v", list, err)
	}
	restored := f.create(fromSnapshot(createReq("restored", gib), members[a.GetVolumeId()]))
	f.deleteVolume(restored.GetVolumeId())
	if err := f.deleteGroup(g.GetGroupSnapshotId()); err != nil {
		t.Fatal(err)
	}
	if err := f.deleteGroup(g.GetGroupSnapshotId()); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	_, err = f.srv.GetVolumeGroupSnapshot(context.Background(), &csi.GetVolumeGroupSnapshotRequest{
		GroupSnapshotId: g.GetGroupSnapshotId(), Secrets: secrets()})
	wantCode(t, err, codes.NotFound)
	f.deleteVolume(a.GetVolumeId())
	f.deleteVolume(b.GetVolumeId())
	f.wantClean()
}

func TestGroupSnapshotBadRequests(t *testing.T) {
	f := newFixture(t)
	f.be.AddFileSystem("other", 8, 100*gib)
	a, b := f.create(createReq("a", gib)), f.create(createReq("b", gib))
	otherReq := createReq("c", gib)
	otherReq.Parameters[volctx.FSName] = "other"
	c := f.create(otherReq)
	unknown, _ := volid.ID{ClusterID: testCluster, LocationID: testFSID, UUID: "0d1b7ab4-7a1d-4bb0-9a1b-2f1c4d5e6f70"}.Encode()
	withParam := func(k, v string) *csi.CreateVolumeGroupSnapshotRequest {
		r := groupReq("g-param", a.GetVolumeId())
		r.Parameters[k] = v
		return r
	}
	noSecrets := groupReq("g-nosecret", a.GetVolumeId())
	noSecrets.Secrets = nil
	for _, tc := range []struct {
		name  string
		req   *csi.CreateVolumeGroupSnapshotRequest
		code  codes.Code
		words []string
	}{
		{"no name", groupReq("", a.GetVolumeId()), codes.InvalidArgument, []string{"name"}},
		{"no sources", groupReq("g"), codes.InvalidArgument, []string{"source_volume_ids"}},
		{"repeated source", groupReq("g", a.GetVolumeId(), a.GetVolumeId()), codes.InvalidArgument, []string{"twice"}},
		{"malformed source", groupReq("g", a.GetVolumeId(), "garbage"), codes.NotFound, []string{"source_volume_ids[1]"}},
		{"unknown source", groupReq("g", a.GetVolumeId(), unknown), codes.NotFound, []string{unknown}},
		{"two file systems", groupReq("g", a.GetVolumeId(), c.GetVolumeId()), codes.InvalidArgument, []string{"one file system"}},
		{"other cluster parameter", withParam(volctx.ClusterID, "cluster-2"), codes.InvalidArgument, []string{"clusterID"}},
		{"other fsName parameter", withParam(volctx.FSName, "other"), codes.InvalidArgument, []string{"fsName"}},
		{"unknown parameter", withParam("fsname", "x"), codes.InvalidArgument, []string{"fsName"}},
		{"bad prefix", withParam(paramVolumeGroupNamePrefix, "a/b"), codes.InvalidArgument, []string{paramVolumeGroupNamePrefix}},
		{"no secrets", noSecrets, codes.InvalidArgument, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.srv.CreateVolumeGroupSnapshot(context.Background(), tc.req)
			wantCode(t, err, tc.code, tc.words...)
		})
	}
	f.group(groupReq("g-set", a.GetVolumeId(), b.GetVolumeId()))
	_, err := f.srv.CreateVolumeGroupSnapshot(context.Background(), groupReq("g-set", a.GetVolumeId()))
	wantCode(t, err, codes.AlreadyExists, "other source volumes")
	ids, err := f.groupsJournal().ListUUIDs(context.Background())
	if err != nil || len(ids) != 1 {
		t.Fatalf("group records after the failed requests: %v, %v (want only g-set)", ids, err)
	}
	for _, id := range []string{"", "garbage"} {
		_, err := f.srv.GetVolumeGroupSnapshot(context.Background(), &csi.GetVolumeGroupSnapshotRequest{GroupSnapshotId: id, Secrets: secrets()})
		wantCode(t, err, map[string]codes.Code{"": codes.InvalidArgument, "garbage": codes.NotFound}[id])
	}
	wantCode(t, f.deleteGroup(""), codes.InvalidArgument)
	if err := f.deleteGroup("garbage"); err != nil {
		t.Fatalf("delete of a malformed ID: %v", err)
	}
}

// TestGroupSnapshotRollback: a final error while taking the snapshots
// leaves no group record, no snapshot record and no snapshot.
func TestGroupSnapshotRollback(t *testing.T) {
	f := newFixture(t)
	a, b := f.create(createReq("a", gib)), f.create(createReq("b", gib))
	f.be.Errors["CreateSnapshot"] = &backend.Error{Op: "snapshot create", Kind: backend.ErrPermission, Err: backend.ErrPermission}
	_, err := f.srv.CreateVolumeGroupSnapshot(context.Background(), groupReq("g", a.GetVolumeId(), b.GetVolumeId()))
	wantCode(t, err, codes.PermissionDenied)
	delete(f.be.Errors, "CreateSnapshot")
	f.deleteVolume(a.GetVolumeId())
	f.deleteVolume(b.GetVolumeId())
	f.wantClean()
}

// TestGroupSnapshotShallowMember: a member backing a shallow volume makes
// the group's deletion FailedPrecondition, with nothing deleted.
func TestGroupSnapshotShallowMember(t *testing.T) {
	f := newFixture(t)
	a, b := f.create(createReq("a", gib)), f.create(createReq("b", gib))
	g := f.group(groupReq("g", a.GetVolumeId(), b.GetVolumeId()))
	members := memberMap(t, g)
	req := fromSnapshot(createReq("shallow", gib), members[b.GetVolumeId()])
	req.Parameters[volctx.BackingSnapshot] = "true"
	req.VolumeCapabilities = []*csi.VolumeCapability{mountCap(csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY)}
	shallow := f.create(req)
	wantCode(t, f.deleteGroup(g.GetGroupSnapshotId()), codes.FailedPrecondition, "shallow")
	got, err := f.srv.GetVolumeGroupSnapshot(context.Background(), &csi.GetVolumeGroupSnapshotRequest{
		GroupSnapshotId: g.GetGroupSnapshotId(), Secrets: secrets()})
	if err != nil || len(got.GetGroupSnapshot().GetSnapshots()) != 2 {
		t.Fatalf("group after the refused delete: %v, %v", got, err)
	}
	f.deleteVolume(shallow.GetVolumeId())
	if err := f.deleteGroup(g.GetGroupSnapshotId()); err != nil {
		t.Fatal(err)
	}
	f.deleteVolume(a.GetVolumeId())
	f.deleteVolume(b.GetVolumeId())
	f.wantClean()
}

// TestGroupSnapshotResumesPartial: a group whose creation stopped after the
// member set was written and one member's snapshot was reserved (a crash)
// is completed by the retry with the same IDs, and deleted cleanly when the
// retry never comes.
func TestGroupSnapshotResumesPartial(t *testing.T) {
	f := newFixture(t)
	a, b := f.create(createReq("a", gib)), f.create(createReq("b", gib))
	f.be.Errors["CreateSnapshot"] = context.DeadlineExceeded
	_, err := f.srv.CreateVolumeGroupSnapshot(context.Background(), groupReq("g", a.GetVolumeId(), b.GetVolumeId()))
	wantCode(t, err, codes.DeadlineExceeded)
	delete(f.be.Errors, "CreateSnapshot")
	rec, err := f.groupsJournal().Lookup(context.Background(), "g")
	if err != nil || len(rec.Members) != 2 || rec.Members[a.GetVolumeId()] != "" {
		t.Fatalf("interrupted group %+v, %v: want the member set with empty snapshot IDs", rec, err)
	}
	g := f.group(groupReq("g", a.GetVolumeId(), b.GetVolumeId()))
	if gid, _ := volid.Decode(g.GetGroupSnapshotId()); gid.UUID != rec.UUID || len(memberMap(t, g)) != 2 {
		t.Fatalf("resumed group %+v, record %+v", g, rec)
	}
	ids := []string{}
	for _, id := range memberMap(t, g) {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	if err := f.deleteGroup(g.GetGroupSnapshotId()); err != nil {
		t.Fatal(err)
	}
	// An interrupted group deleted without a retry: the reserved member
	// snapshots are found by their member request names.
	f.be.Errors["CreateSnapshot"] = context.DeadlineExceeded
	_, err = f.srv.CreateVolumeGroupSnapshot(context.Background(), groupReq("g2", a.GetVolumeId(), b.GetVolumeId()))
	wantCode(t, err, codes.DeadlineExceeded)
	delete(f.be.Errors, "CreateSnapshot")
	rec, _ = f.groupsJournal().Lookup(context.Background(), "g2")
	gid, _ := volid.ID{ClusterID: testCluster, LocationID: testFSID, UUID: rec.UUID}.Encode()
	if err := f.deleteGroup(gid); err != nil {
		t.Fatal(err)
	}
	f.deleteVolume(a.GetVolumeId())
	f.deleteVolume(b.GetVolumeId())
	f.wantClean()
}

// recordingQuiescer records what it was asked to quiesce and whether it
// was released.
type recordingQuiescer struct {
	fs, setID string
	members   []string
	released  int
}

func (q *recordingQuiescer) Quiesce(_ context.Context, fs, setID string, members []backend.SubvolumeRef) (func(context.Context) error, error) {
	q.fs, q.setID = fs, setID
	for _, m := range members {
		q.members = append(q.members, m.Name)
	}
	return func(context.Context) error { q.released++; return nil }, nil
}

// TestGroupSnapshotQuiescer: the member snapshots are taken under one
// quiesce of all members' subvolumes, keyed by the group's UUID, released
// also when taking a snapshot failed; a retry that has nothing left to
// take does not quiesce again.
func TestGroupSnapshotQuiescer(t *testing.T) {
	f := newFixture(t)
	q := &recordingQuiescer{}
	f.srv.cfg.Quiescer = q
	a, b := f.create(createReq("a", gib)), f.create(createReq("b", gib))
	f.be.Errors["CreateSnapshot"] = context.DeadlineExceeded
	_, err := f.srv.CreateVolumeGroupSnapshot(context.Background(), groupReq("g", a.GetVolumeId(), b.GetVolumeId()))
	wantCode(t, err, codes.DeadlineExceeded)
	if q.released != 1 || len(q.members) != 2 || q.fs != testFS {
		t.Fatalf("after a failed snapshot: quiescer %+v, want both members quiesced once and released", q)
	}
	delete(f.be.Errors, "CreateSnapshot")
	g := f.group(groupReq("g", a.GetVolumeId(), b.GetVolumeId()))
	gid, _ := volid.Decode(g.GetGroupSnapshotId())
	want := []string{a.GetVolumeContext()[volctx.SubvolumeName], b.GetVolumeContext()[volctx.SubvolumeName]}
	sort.Strings(want)
	got := q.members[2:]
	sort.Strings(got)
	if q.released != 2 || q.setID != gid.UUID || len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("quiescer %+v, want set %s of %v, released twice", q, gid.UUID, want)
	}
	f.group(groupReq("g", a.GetVolumeId(), b.GetVolumeId()))
	if q.released != 2 {
		t.Fatalf("a retry of a complete group quiesced again: %+v", q)
	}
	if err := f.deleteGroup(g.GetGroupSnapshotId()); err != nil {
		t.Fatal(err)
	}
	f.deleteVolume(a.GetVolumeId())
	f.deleteVolume(b.GetVolumeId())
	f.wantClean()
}
