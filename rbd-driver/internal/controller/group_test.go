package controller

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/seed-6a310834/ceph-csi/shared/csisource"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/oplock"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

func (e *env) groupSnapshot(name string, vols ...string) (*csi.VolumeGroupSnapshot, error) {
	e.t.Helper()
	resp, err := e.s.Group().CreateVolumeGroupSnapshot(context.Background(), &csi.CreateVolumeGroupSnapshotRequest{
		Name: name, SourceVolumeIds: vols, Secrets: secrets()})
	return resp.GetGroupSnapshot(), err
}

func (e *env) deleteGroupSnapshot(id string) {
	e.t.Helper()
	_, err := e.s.Group().DeleteVolumeGroupSnapshot(context.Background(), &csi.DeleteVolumeGroupSnapshotRequest{
		GroupSnapshotId: id, Secrets: secrets()})
	if err != nil {
		e.t.Fatalf("DeleteVolumeGroupSnapshot(%s): %v", id, err)
	}
}

func TestGroupSnapshotLifecycle(t *testing.T) {
	e := newEnv(t)
	a, b := e.create(volReq("pvc-a", 64*mib)), e.create(volReq("pvc-b", 32*mib))
	gs, err := e.groupSnapshot("group-1", a.GetVolumeId(), b.GetVolumeId())
	if err != nil {
		t.Fatal(err)
	}
	if len(gs.GetSnapshots()) != 2 || !gs.GetReadyToUse() || gs.GetCreationTime() == nil {
		t.Fatalf("group snapshot %v", gs)
	}
	sizes := map[string]int64{a.GetVolumeId(): 64 * mib, b.GetVolumeId(): 32 * mib}
	for _, snap := range gs.GetSnapshots() {
		if snap.GetGroupSnapshotId() != gs.GetGroupSnapshotId() || !snap.GetReadyToUse() ||
			snap.GetSizeBytes() != sizes[snap.GetSourceVolumeId()] {
			t.Errorf("member %v", snap)
		}
	}
	if c := e.be.Contents(testCluster, testPool); len(c.Groups) != 0 {
		t.Errorf("RBD groups left after the create: %v", c.Groups)
	}
	again, err := e.groupSnapshot("group-1", b.GetVolumeId(), a.GetVolumeId())
	if err != nil || again.GetGroupSnapshotId() != gs.GetGroupSnapshotId() ||
		again.GetSnapshots()[0].GetSnapshotId() != gs.GetSnapshots()[0].GetSnapshotId() {
		t.Fatalf("retry: %v, %v", again, err)
	}
	_, err = e.groupSnapshot("group-1", a.GetVolumeId())
	wantCode(t, err, codes.AlreadyExists, "group-1")
	got, err := e.s.Group().GetVolumeGroupSnapshot(context.Background(), &csi.GetVolumeGroupSnapshotRequest{
		GroupSnapshotId: gs.GetGroupSnapshotId(), Secrets: secrets()})
	if err != nil || len(got.GetGroupSnapshot().GetSnapshots()) != 2 {
		t.Fatalf("get: %v, %v", got, err)
	}
	// A member is an ordinary snapshot that names its group snapshot.
	member := gs.GetSnapshots()[0].GetSnapshotId()
	list, err := e.s.ListSnapshots(context.Background(), &csi.ListSnapshotsRequest{SnapshotId: member, Secrets: secrets()})
	if err != nil || len(list.GetEntries()) != 1 ||
		list.GetEntries()[0].GetSnapshot().GetGroupSnapshotId() != gs.GetGroupSnapshotId() {
		t.Fatalf("ListSnapshots(%s) = %v, %v; want it with group_snapshot_id %s", member, list, err, gs.GetGroupSnapshotId())
	}
	// Restore from it.
	restored := e.create(withSource(volReq("pvc-r", 64*mib), csisource.Snapshot(gs.GetSnapshots()[0].GetSnapshotId())))
	e.deleteVolume(restored.GetVolumeId())
	e.deleteGroupSnapshot(gs.GetGroupSnapshotId())
	e.deleteGroupSnapshot(gs.GetGroupSnapshotId())
	_, err = e.s.Group().GetVolumeGroupSnapshot(context.Background(), &csi.GetVolumeGroupSnapshotRequest{
		GroupSnapshotId: gs.GetGroupSnapshotId(), Secrets: secrets()})
	wantCode(t, err, codes.NotFound)
	e.deleteVolume(a.GetVolumeId())
	e.deleteVolume(b.GetVolumeId())
	e.assertEmpty()
}

func withSource(r *csi.CreateVolumeRequest, src *csi.VolumeContentSource) *csi.CreateVolumeRequest {
	r.VolumeContentSource = src
	return r
}

func TestGroupSnapshotBadInput(t *testing.T) {
	e := newEnv(t)
	a := e.create(volReq("pvc-a", 0))
	other := e.create(volReq("pvc-o", 0))
	other2 := e.create(withParams(volReq("pvc-p", 0), map[string]string{"pool": otherPool}))
	tests := []struct {
		name string
		req  *csi.CreateVolumeGroupSnapshotRequest
		code codes.Code
		msg  string
	}{
		{"no name", &csi.CreateVolumeGroupSnapshotRequest{SourceVolumeIds: []string{a.GetVolumeId()}, Secrets: secrets()},
			codes.InvalidArgument, "name"},
		{"no sources", &csi.CreateVolumeGroupSnapshotRequest{Name: "g", Secrets: secrets()},
			codes.InvalidArgument, "source_volume_ids"},
		{"twice", &csi.CreateVolumeGroupSnapshotRequest{Name: "g", Secrets: secrets(),
			SourceVolumeIds: []string{a.GetVolumeId(), a.GetVolumeId()}}, codes.InvalidArgument, "twice"},
		{"malformed", &csi.CreateVolumeGroupSnapshotRequest{Name: "g", Secrets: secrets(),
			SourceVolumeIds: []string{a.GetVolumeId(), "x"}}, codes.NotFound, "source_volume_ids"},
		{"unknown parameter", &csi.CreateVolumeGroupSnapshotRequest{Name: "g", Secrets: secrets(),
			SourceVolumeIds: []string{a.GetVolumeId()}, Parameters: map[string]string{"snapshotNamePrefix": "x"}},
			codes.InvalidArgument, "parameters.snapshotNamePrefix"},
		{"bad group prefix", &csi.CreateVolumeGroupSnapshotRequest{Name: "g", Secrets: secrets(),
			SourceVolumeIds: []string{a.GetVolumeId()}, Parameters: map[string]string{"volumeGroupNamePrefix": "a/b"}},
			codes.InvalidArgument, "parameters.volumeGroupNamePrefix"},
		{"other pool", &csi.CreateVolumeGroupSnapshotRequest{Name: "g", Secrets: secrets(),
			SourceVolumeIds: []string{a.GetVolumeId(), other2.GetVolumeId()}}, codes.InvalidArgument, "one cluster and pool"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.s.Group().CreateVolumeGroupSnapshot(context.Background(), tc.req)
			wantCode(t, err, tc.code, tc.msg)
		})
	}
	e.deleteVolume(other.GetVolumeId())
	_, err := e.groupSnapshot("g", a.GetVolumeId(), other.GetVolumeId())
	wantCode(t, err, codes.NotFound, "source_volume_ids")
	for _, v := range []*csi.Volume{a, other2} {
		e.deleteVolume(v.GetVolumeId())
	}
	e.assertEmpty()
}

// An image in another RBD group cannot join: FailedPrecondition, and the
// failed creation leaves nothing behind.
func TestGroupSnapshotImageInOtherGroup(t *testing.T) {
	e := newEnv(t)
	a, b := e.create(volReq("pvc-a", 0)), e.create(volReq("pvc-b", 0))
	sess, _ := e.be.Connect(context.Background(), backend.Target{ClusterID: testCluster})
	foreign := backend.GroupRef{PoolRef: backend.PoolRef{Pool: testPool}, Name: "foreign"}
	img := backend.ImageRef{PoolRef: foreign.PoolRef, Name: b.GetVolumeContext()["imageName"]}
	if err := errors.Join(sess.CreateGroup(context.Background(), foreign),
		sess.AddGroupImage(context.Background(), foreign, img)); err != nil {
		t.Fatal(err)
	}
	_, err := e.groupSnapshot("g", a.GetVolumeId(), b.GetVolumeId())
	wantCode(t, err, codes.FailedPrecondition, "foreign")
	if err := sess.RemoveGroup(context.Background(), foreign); err != nil {
		t.Fatal(err)
	}
	e.deleteVolume(a.GetVolumeId())
	e.deleteVolume(b.GetVolumeId())
	e.assertEmpty()
}

// A create that died after the group snapshot started leaves it
// incomplete; the retry takes it again and finishes.
func TestGroupSnapshotRetryAfterIncompleteGroupSnap(t *testing.T) {
	e := newEnv(t)
	a, b := e.create(volReq("pvc-a", 0)), e.create(volReq("pvc-b", 0))
	fail := true
	e.be.SetHook(func(op string) error {
		if op == "ImageFromGroupSnapshot" && fail {
			return backend.ErrUnavailable
		}
		return nil
	})
	_, err := e.groupSnapshot("g", a.GetVolumeId(), b.GetVolumeId())
	wantCode(t, err, codes.Unavailable)
	fail = false
	// The group snapshot the attempt left is incomplete (as after a crash
	// inside librbd): its member snapshots are missing until it is taken
	// again.
	id := e.groupIDOf("g")
	vid, _ := volid.Decode(id)
	name := journal.DefaultGroupNamePrefix + vid.UUID
	e.be.InjectIncompleteGroupSnap(testCluster, backend.GroupSnapRef{
		Group: backend.GroupRef{PoolRef: backend.PoolRef{Pool: testPool}, Name: name}, Snap: name})
	gs, err := e.groupSnapshot("g", a.GetVolumeId(), b.GetVolumeId())
	if err != nil || !gs.GetReadyToUse() {
		t.Fatalf("retry: %v %v", gs, err)
	}
	e.deleteGroupSnapshot(gs.GetGroupSnapshotId())
	e.deleteVolume(a.GetVolumeId())
	e.deleteVolume(b.GetVolumeId())
	e.assertEmpty()
}

// A group snapshot whose create failed half-way is deleted whole.
func TestDeleteHalfMadeGroupSnapshot(t *testing.T) {
	e := newEnv(t)
	a, b := e.create(volReq("pvc-a", 0)), e.create(volReq("pvc-b", 0))
	n := 0
	e.be.SetHook(func(op string) error {
		if op == "ImageFromGroupSnapshot" {
			if n++; n == 2 {
				return backend.ErrUnavailable
			}
		}
		return nil
	})
	_, err := e.groupSnapshot("g", a.GetVolumeId(), b.GetVolumeId())
	wantCode(t, err, codes.Unavailable)
	e.be.SetHook(nil)
	id := e.groupIDOf("g")
	e.deleteGroupSnapshot(id)
	e.deleteVolume(a.GetVolumeId())
	e.deleteVolume(b.GetVolumeId())
	e.assertEmpty()
}

// groupIDOf returns the ID of a reserved group snapshot by its name.
func (e *env) groupIDOf(name string) string {
	e.t.Helper()
	sess, _ := e.be.Connect(context.Background(), backend.Target{ClusterID: testCluster})
	store, _ := sess.ObjectStore(context.Background(), backend.PoolRef{Pool: testPool})
	rec, err := newGroupJournal(store, "default").Lookup(context.Background(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	poolID, _ := sess.PoolID(context.Background(), testPool)
	id, _ := encodeID(testCluster, poolID, rec.UUID)
	return id
}

func withParams(r *csi.CreateVolumeRequest, params map[string]string) *csi.CreateVolumeRequest {
	for k, v := range params {
		r.Parameters[k] = v
	}
	return r
}

// volumeGroupNamePrefix names the group record's csi.groupname (and the
// temporary RBD group).
func TestGroupSnapshotNamePrefix(t *testing.T) {
	e := newEnv(t)
	a := e.create(volReq("pvc-a", 0))
	resp, err := e.s.Group().CreateVolumeGroupSnapshot(context.Background(), &csi.CreateVolumeGroupSnapshotRequest{
		Name: "g", SourceVolumeIds: []string{a.GetVolumeId()}, Secrets: secrets(),
		Parameters: map[string]string{"volumeGroupNamePrefix": "apps-group-"}})
	if err != nil {
		t.Fatal(err)
	}
	sess, _ := e.be.Connect(context.Background(), backend.Target{ClusterID: testCluster})
	store, _ := sess.ObjectStore(context.Background(), backend.PoolRef{Pool: testPool})
	rec, err := newGroupJournal(store, "default").Lookup(context.Background(), "g")
	if err != nil || !strings.HasPrefix(rec.GroupName, "apps-group-") {
		t.Fatalf("record %+v, %v: want the group name prefix apps-group-", rec, err)
	}
	e.deleteGroupSnapshot(resp.GetGroupSnapshot().GetGroupSnapshotId())
	e.deleteVolume(a.GetVolumeId())
	e.assertEmpty()
}

// A DeleteSnapshot at work on a member makes DeleteVolumeGroupSnapshot
// answer Aborted (retry), not race it.
func TestDeleteGroupSnapshotWaitsForMemberLock(t *testing.T) {
	e := newEnv(t)
	a := e.create(volReq("pvc-a", 0))
	gs, err := e.groupSnapshot("g", a.GetVolumeId())
	if err != nil {
		t.Fatal(err)
	}
	release, err := e.s.locks.Acquire(oplock.Key{Kind: oplock.KindSnapshotID, ID: gs.GetSnapshots()[0].GetSnapshotId()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.s.Group().DeleteVolumeGroupSnapshot(context.Background(), &csi.DeleteVolumeGroupSnapshotRequest{
		GroupSnapshotId: gs.GetGroupSnapshotId(), Secrets: secrets()})
	wantCode(t, err, codes.Aborted)
	release()
	e.deleteGroupSnapshot(gs.GetGroupSnapshotId())
	e.deleteVolume(a.GetVolumeId())
	e.assertEmpty()
}

// TestGroupSnapshotJournalPool: the VolumeGroupSnapshotClass journalPool
// holds the group record (directory and record) and names the group
// snapshot ID's pool, as ceph-csi's CreateVolumeGroup reserves in it; the
// member snapshots follow their volume's journal (the image pool). A
// journalPool that does not exist is InvalidArgument naming it.
func TestGroupSnapshotJournalPool(t *testing.T) {
	e := newEnv(t)
	a := e.create(volReq("pvc-a", 0))
	create := func(jp string) (*csi.VolumeGroupSnapshot, error) {
		resp, err := e.s.Group().CreateVolumeGroupSnapshot(context.Background(), &csi.CreateVolumeGroupSnapshotRequest{
			Name: "g", SourceVolumeIds: []string{a.GetVolumeId()}, Secrets: secrets(),
			Parameters: map[string]string{"journalPool": jp}})
		return resp.GetGroupSnapshot(), err
	}
	_, err := create("no-such-pool")
	wantCode(t, err, codes.InvalidArgument, "parameters.journalPool", "no-such-pool")
	gs, err := create(jPool)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := newGroupJournal(e.objectStore(jPool), "default").Lookup(context.Background(), "g")
	if err != nil || e.uuidOf(gs.GetGroupSnapshotId()) != rec.UUID {
		t.Fatalf("group record in %s: %+v, %v", jPool, rec, err)
	}
	if vid, _ := volid.Decode(gs.GetGroupSnapshotId()); vid.LocationID != e.poolID(jPool) {
		t.Errorf("group snapshot ID names pool %d, want %s's %d", vid.LocationID, jPool, e.poolID(jPool))
	}
	member := "csi.snap." + memberName("g", a.GetVolumeId())
	if v, err := e.objectStore(testPool).GetOmapValues(context.Background(), "csi.snaps.default",
		[]string{member}); err != nil || v[member] == "" {
		t.Errorf("member snapshot entry %s in %s: %v, %v", member, testPool, v, err)
	}
	if again, err := create(jPool); err != nil || again.GetGroupSnapshotId() != gs.GetGroupSnapshotId() {
		t.Fatalf("retry: %v, %v", again, err)
	}
	got, err := e.s.Group().GetVolumeGroupSnapshot(context.Background(), &csi.GetVolumeGroupSnapshotRequest{
		GroupSnapshotId: gs.GetGroupSnapshotId(), Secrets: secrets()})
	if err != nil || len(got.GetGroupSnapshot().GetSnapshots()) != 1 {
		t.Fatalf("GetVolumeGroupSnapshot: %v, %v", got, err)
	}
	e.deleteGroupSnapshot(gs.GetGroupSnapshotId())
	e.deleteVolume(a.GetVolumeId())
	e.assertEmpty()
}
