package journaltest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/seed-6a310834/ceph-csi/shared/journal"
)

// RunGroups runs the conformance tests of the group journal (journal.Groups)
// against stores made by newStore.
func RunGroups(t *testing.T, newStore Factory) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s journal.ObjectStore)
	}{
		{"LookupMissing", testGroupLookupMissing},
		{"ReserveLayout", testGroupReserveLayout},
		{"ReserveRepeated", testGroupReserveRepeated},
		{"Members", testGroupMembers},
		{"ReadsCephCSIRecords", testGroupCephCSICompat},
		{"UndoIdempotent", testGroupUndo},
		{"UndoKeepsForeignEntry", testGroupUndoForeign},
		{"DanglingDirectoryEntry", testGroupDangling},
		{"UUIDCollisionFallsBack", testGroupCollision},
		{"CrashDuringReserve", testGroupCrashReserve},
		{"CrashDuringUndo", testGroupCrashUndo},
		{"ListForAudit", testGroupList},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

var groupClock = time.Date(2026, 12, 5, 10, 0, 0, 123456789, time.UTC)

func groups(s journal.ObjectStore) *journal.Groups {
	return journal.NewGroups(s, journal.GroupOptions{Now: func() time.Time { return groupClock }})
}

// assertGroupsClean fails unless the store holds no group UUID object and no
// group directory entry.
func assertGroupsClean(t *testing.T, s journal.ObjectStore) {
	t.Helper()
	ctx := context.Background()
	ids, err := groups(s).ListUUIDs(ctx)
	must(t, err)
	entries, err := groups(s).List(ctx)
	must(t, err)
	if len(ids) != 0 || len(entries) != 0 {
		t.Fatalf("left behind: UUID objects %v, directory entries %v", ids, entries)
	}
}

func testGroupLookupMissing(t *testing.T, s journal.ObjectStore) {
	ctx := context.Background()
	g := groups(s)
	if _, err := g.Lookup(ctx, "groupsnapshot-none"); !errors.Is(err, journal.ErrNotFound) {
		t.Fatalf("Lookup on empty store = %v, want ErrNotFound", err)
	}
	for _, id := range []string{"not-a-uuid", "", "0d1b7ab4-7a1d-4bb0-9a1b-2f1c4d5e6f70"} {
		if _, err := g.Get(ctx, id); !errors.Is(err, journal.ErrNotFound) {
			t.Fatalf("Get(%q) = %v, want ErrNotFound", id, err)
		}
	}
	if err := g.AddMembers(ctx, "0d1b7ab4-7a1d-4bb0-9a1b-2f1c4d5e6f70", map[string]string{"v": "s"}); !errors.Is(err, journal.ErrNotFound) {
		t.Fatalf("AddMembers on a missing group = %v, want ErrNotFound", err)
	}
	assertGroupsClean(t, s)
}

func testGroupReserveLayout(t *testing.T, s journal.ObjectStore) {
	ctx := context.Background()
	g := groups(s)
	rec, err := g.Reserve(ctx, "groupsnapshot-a", "")
	must(t, err)
	if id, name := g.Planned("groupsnapshot-a", ""); id != rec.UUID || name != rec.GroupName {
		t.Fatalf("Planned = %s %s, Reserve gave %s %s", id, name, rec.UUID, rec.GroupName)
	}
	dir, err := s.ListOmap(ctx, "csi.groups.default", "")
	must(t, err)
	if len(dir) != 1 || dir["csi.volume.group.groupsnapshot-a"] != rec.UUID {
		t.Fatalf("directory = %v, want csi.volume.group.groupsnapshot-a=%s", dir, rec.UUID)
	}
	obj, err := s.ListOmap(ctx, "csi.volume.group."+rec.UUID, "")
	must(t, err)
	want := map[string]string{
		"csi.volname": "groupsnapshot-a", "csi.groupname": "csi-vol-group-" + rec.UUID,
		"csi.creationtime": "2026-12-05T10:00:00.123456789Z",
	}
	if fmt.Sprint(obj) != fmt.Sprint(want) {
		t.Fatalf("UUID object = %v, want %v", obj, want)
	}
	got, err := g.Lookup(ctx, "groupsnapshot-a")
	must(t, err)
	if got.UUID != rec.UUID || !got.CreationTime.Equal(groupClock) || len(got.Members) != 0 {
		t.Fatalf("Lookup = %+v", got)
	}
	custom, err := g.Reserve(ctx, "groupsnapshot-b", "mygroup-")
	must(t, err)
	if custom.GroupName != "mygroup-"+custom.UUID || custom.UUID == rec.UUID {
		t.Fatalf("prefixed reservation = %+v", custom)
	}
}

func testGroupReserveRepeated(t *testing.T, s journal.ObjectStore) {
	ctx := context.Background()
	first, err := groups(s).Reserve(ctx, "groupsnapshot-r", "")
	must(t, err)
	must(t, groups(s).AddMembers(ctx, first.UUID, map[string]string{"vol-1": "snap-1"}))
	later := journal.NewGroups(s, journal.GroupOptions{Now: func() time.Time { return groupClock.Add(time.Hour) }})
	again, err := later.Reserve(ctx, "groupsnapshot-r", "")
	must(t, err)
	if again.UUID != first.UUID || !again.CreationTime.Equal(groupClock) || again.Members["vol-1"] != "snap-1" {
		t.Fatalf("second Reserve = %+v, want the first record %+v with its member", again, first)
	}
	ids, err := later.ListUUIDs(ctx)
	must(t, err)
	if len(ids) != 1 {
		t.Fatalf("UUID objects after a repeated Reserve: %v", ids)
	}
}

func testGroupMembers(t *testing.T, s journal.ObjectStore) {
	ctx := context.Background()
	g := groups(s)
	rec, err := g.Reserve(ctx, "groupsnapshot-m", "")
	must(t, err)
	must(t, g.AddMembers(ctx, rec.UUID, map[string]string{"vol-1": "snap-1"}))
	must(t, g.AddMembers(ctx, rec.UUID, map[string]string{"vol-2": "snap-2", "vol-1": "snap-1"}))
	for _, bad := range []string{"csi.volname", "csi.groupname", ""} {
		if err := g.AddMembers(ctx, rec.UUID, map[string]string{bad: "x"}); err == nil {
			t.Fatalf("AddMembers accepted the key %q", bad)
		}
	}
	got, err := g.Get(ctx, rec.UUID)
	must(t, err)
	if len(got.Members) != 2 || got.Members["vol-1"] != "snap-1" || got.Members["vol-2"] != "snap-2" ||
		got.RequestName != "groupsnapshot-m" {
		t.Fatalf("Get = %+v", got)
	}
	must(t, g.RemoveMembers(ctx, rec.UUID, []string{"vol-1", "vol-absent", "csi.volname"}))
	must(t, g.RemoveMembers(ctx, rec.UUID, []string{"vol-1"}))
	got, err = g.Get(ctx, rec.UUID)
	must(t, err)
	if len(got.Members) != 1 || got.RequestName != "groupsnapshot-m" {
		t.Fatalf("after RemoveMembers: %+v", got)
	}
	must(t, g.Undo(ctx, got))
	must(t, g.RemoveMembers(ctx, rec.UUID, []string{"vol-2"}))
	assertGroupsClean(t, s)
}

// testGroupCephCSICompat writes a group as ceph-csi's ReserveName and
// AddVolumesMapping leave it (an empty UUID object created first, the
// directory entry, then the attributes, a local-time creation stamp, member
// keys that are CSI volume IDs) and reads it back.
func testGroupCephCSICompat(t *testing.T, s journal.ObjectStore) {
	ctx := context.Background()
	const id = "5f0c3f52-7d59-4a8e-9c2f-6a0c3e1b2d4f"
	const vol = "0001-0009-rook-ceph-0000000000000001-8a1f0f0e-5b0c-4d8e-9f1a-0b2c3d4e5f60"
	const snap = "0001-0009-rook-ceph-0000000000000001-1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d"
	must(t, s.CreateWithOmap(ctx, "csi.volume.group."+id, nil))
	must(t, s.SetOmap(ctx, "csi.groups.default", map[string]string{"csi.volume.group.groupsnapshot-c": id}))
	must(t, s.SetOmap(ctx, "csi.volume.group."+id, map[string]string{
		"csi.volname": "groupsnapshot-c", "csi.groupname": "csi-vol-group-" + id,
		"csi.creationtime": "2024-10-22T19:10:57.5+02:00", vol: snap,
	}))
	rec, err := groups(s).Lookup(ctx, "groupsnapshot-c")
	must(t, err)
	wantTime := time.Date(2024, 10, 22, 17, 10, 57, 500000000, time.UTC)
	if rec.UUID != id || rec.GroupName != "csi-vol-group-"+id || !rec.CreationTime.Equal(wantTime) ||
		len(rec.Members) != 1 || rec.Members[vol] != snap {
		t.Fatalf("ceph-csi group read as %+v", rec)
	}
	if m := journal.GroupMemberRequestName(rec.GroupName, vol); m != "csi-vol-group-"+id+"-"+vol {
		t.Fatalf("member request name %q", m)
	}
	must(t, groups(s).Undo(ctx, rec))
	assertGroupsClean(t, s)
}

func testGroupUndo(t *testing.T, s journal.ObjectStore) {
	ctx := context.Background()
	g := groups(s)
	rec, err := g.Reserve(ctx, "groupsnapshot-u", "")
	must(t, err)
	must(t, g.AddMembers(ctx, rec.UUID, map[string]string{"vol-1": "snap-1"}))
	must(t, g.Undo(ctx, rec))
	must(t, g.Undo(ctx, rec))
	must(t, g.Undo(ctx, &journal.GroupRecord{UUID: rec.UUID}))
	if _, err := g.Lookup(ctx, "groupsnapshot-u"); !errors.Is(err, journal.ErrNotFound) {
		t.Fatalf("Lookup after Undo = %v", err)
	}
	if err := g.Undo(ctx, &journal.GroupRecord{UUID: "nope"}); err == nil {
		t.Fatal("Undo without a valid UUID succeeded")
	}
	assertGroupsClean(t, s)
}

func testGroupUndoForeign(t *testing.T, s journal.ObjectStore) {
	ctx := context.Background()
	g := groups(s)
	rec, err := g.Reserve(ctx, "groupsnapshot-f", "")
	must(t, err)
	stale := &journal.GroupRecord{UUID: "11111111-2222-4333-8444-555555555555", RequestName: "groupsnapshot-f"}
	must(t, g.Undo(ctx, stale))
	if got, err := g.Lookup(ctx, "groupsnapshot-f"); err != nil || got.UUID != rec.UUID {
		t.Fatalf("Undo of a stale record removed the live entry: %v %+v", err, got)
	}
	must(t, g.Undo(ctx, rec))
	assertGroupsClean(t, s)
}

func testGroupDangling(t *testing.T, s journal.ObjectStore) {
	ctx := context.Background()
	g := groups(s)
	rec, err := g.Reserve(ctx, "groupsnapshot-d", "")
	must(t, err)
	must(t, s.Remove(ctx, g.UUIDObject(rec.UUID)))
	if _, err := g.Lookup(ctx, "groupsnapshot-d"); !errors.Is(err, journal.ErrNotFound) {
		t.Fatalf("Lookup of a dangling entry = %v, want ErrNotFound", err)
	}
	assertGroupsClean(t, s)
	other, err := g.Reserve(ctx, "groupsnapshot-e", "")
	must(t, err)
	must(t, s.SetOmap(ctx, g.DirectoryObject(), map[string]string{"csi.volume.group.groupsnapshot-x": other.UUID}))
	if _, err := g.Lookup(ctx, "groupsnapshot-x"); !errors.Is(err, journal.ErrCorrupt) {
		t.Fatalf("Lookup of an entry pointing at another group = %v, want ErrCorrupt", err)
	}
}

func testGroupCollision(t *testing.T, s journal.ObjectStore) {
	ctx := context.Background()
	g := groups(s)
	id, _ := g.Planned("groupsnapshot-col", "")
	must(t, s.CreateWithOmap(ctx, g.UUIDObject(id), map[string]string{"csi.volname": "someone-else"}))
	rec, err := g.Reserve(ctx, "groupsnapshot-col", "")
	must(t, err)
	if rec.UUID == id || rec.RequestName != "groupsnapshot-col" {
		t.Fatalf("Reserve took a UUID held by another name: %+v", rec)
	}
	if got, err := g.Lookup(ctx, "groupsnapshot-col"); err != nil || got.UUID != rec.UUID {
		t.Fatalf("Lookup = %+v, %v", got, err)
	}
}

func testGroupCrashReserve(t *testing.T, s journal.ObjectStore) {
	ctx := context.Background()
	for failAt := 1; failAt <= 2; failAt++ {
		name := fmt.Sprintf("groupsnapshot-crash-%d", failAt)
		if _, err := groups(NewCrashStore(s, failAt)).Reserve(ctx, name, ""); !errors.Is(err, ErrCrash) {
			t.Fatalf("failAt=%d: Reserve = %v, want the crash", failAt, err)
		}
		restarted := groups(s)
		rec, err := restarted.Lookup(ctx, name)
		if errors.Is(err, journal.ErrNotFound) {
			rec, err = restarted.Reserve(ctx, name, "")
		}
		must(t, err)
		ids, err := restarted.ListUUIDs(ctx)
		must(t, err)
		if len(ids) != 1 || ids[0] != rec.UUID {
			t.Fatalf("failAt=%d: UUID objects %v, want only %s", failAt, ids, rec.UUID)
		}
		must(t, restarted.Undo(ctx, rec))
		assertGroupsClean(t, s)
	}
}

// testGroupCrashUndo kills Undo before each write; the retried delete knows
// only the UUID from the group snapshot's CSI ID.
func testGroupCrashUndo(t *testing.T, s journal.ObjectStore) {
	ctx := context.Background()
	for failAt := 1; failAt <= 3; failAt++ {
		name := fmt.Sprintf("groupsnapshot-undo-%d", failAt)
		rec, err := groups(s).Reserve(ctx, name, "")
		must(t, err)
		must(t, groups(s).AddMembers(ctx, rec.UUID, map[string]string{"vol-1": "snap-1"}))
		crashed := groups(NewCrashStore(s, failAt))
		err = crashed.RemoveMembers(ctx, rec.UUID, []string{"vol-1"})
		if err == nil {
			err = crashed.Undo(ctx, rec)
		}
		if !errors.Is(err, ErrCrash) {
			t.Fatalf("failAt=%d: delete = %v, want the crash", failAt, err)
		}
		retry, err := groups(s).Get(ctx, rec.UUID)
		if errors.Is(err, journal.ErrNotFound) {
			continue
		}
		must(t, err)
		must(t, groups(s).RemoveMembers(ctx, retry.UUID, []string{"vol-1"}))
		must(t, groups(s).Undo(ctx, retry))
		assertGroupsClean(t, s)
	}
	assertGroupsClean(t, s)
}

func testGroupList(t *testing.T, s journal.ObjectStore) {
	ctx := context.Background()
	g := groups(s)
	a, err := g.Reserve(ctx, "groupsnapshot-la", "")
	must(t, err)
	b, err := g.Reserve(ctx, "groupsnapshot-lb", "")
	must(t, err)
	must(t, s.SetOmap(ctx, g.DirectoryObject(), map[string]string{"csi.volume.group.groupsnapshot-bad": "junk"}))
	entries, err := g.List(ctx)
	must(t, err)
	got := map[string]string{}
	for _, e := range entries {
		got[e.RequestName] = e.UUID
	}
	want := map[string]string{"groupsnapshot-la": a.UUID, "groupsnapshot-lb": b.UUID, "groupsnapshot-bad": ""}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
	ids, err := g.ListUUIDs(ctx)
	must(t, err)
	if len(ids) != 2 {
		t.Fatalf("ListUUIDs = %v", ids)
	}
}
