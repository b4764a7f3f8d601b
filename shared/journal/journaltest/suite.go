// Package journaltest is the one conformance suite of the omap journal. It
// runs the journal over any journal.ObjectStore: the in-memory store in unit
// tests and the RADOS adapter against the local Ceph cluster.
package journaltest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/seed-6a310834/ceph-csi/shared/journal"
)

// Factory returns a fresh, empty store for one test. It registers its own
// cleanup with t.
type Factory func(t *testing.T) journal.ObjectStore

// Run runs every conformance test against stores made by newStore.
func Run(t *testing.T, newStore Factory) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s journal.ObjectStore)
	}{
		{"StoreSemantics", testStoreSemantics},
		{"LookupMissing", testLookupMissing},
		{"ReserveLookupGet", testReserveLookupGet},
		{"ReserveRepeatedSameUUID", testReserveRepeated},
		{"DistinctNamesDistinctUUIDs", testDistinctNames},
		{"ImagePoolInDirectoryValue", testImagePool},
		{"UUIDCollisionFallsBack", testCollision},
		{"SetAttributes", testSetAttributes},
		{"UndoIdempotent", testUndo},
		{"UndoKeepsForeignEntry", testUndoForeign},
		{"DanglingDirectoryEntry", testDangling},
		{"CorruptRecord", testCorrupt},
		{"ReadsCephCSIRecords", testCephCSICompat},
		{"SnapshotLayout", testSnapshotLayout},
		{"CrashDuringReserve", testCrashReserve},
		{"CrashDuringUndo", testCrashUndo},
		{"TwinReservations", testTwins},
		{"RoundTrips", testRoundTrips},
		{"ReserveWithImageID", testReserveWithImageID},
		{"ListForAudit", testList},
		{"PageInNameOrder", testPage},
		{"PageWithoutPagedStore", func(t *testing.T, s journal.ObjectStore) { testPage(t, plainStore{s}) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
	t.Run("SeparateUUIDStore", func(t *testing.T) { testSeparateStores(t, newStore(t), newStore(t)) })
}

// testSeparateStores keeps the directory in one store and the UUID objects
// in another, as ceph-csi does with a separate journalPool.
func testSeparateStores(t *testing.T, dir, objs journal.ObjectStore) {
	ctx := context.Background()
	j := journal.New(dir, journal.Options{Kind: journal.Volumes, UUIDStore: objs})
	rec, err := j.Reserve(ctx, journal.Reservation{RequestName: "pvc-sep", ImagePoolID: 7})
	must(t, err)
	if _, err := objs.ListOmap(ctx, "csi.volume."+rec.UUID, ""); err != nil {
		t.Fatalf("UUID object not in the UUID store: %v", err)
	}
	if _, err := dir.ListOmap(ctx, "csi.volume."+rec.UUID, ""); !errors.Is(err, journal.ErrObjectNotFound) {
		t.Fatalf("UUID object written to the directory store: %v", err)
	}
	if got := lookup(t, j, "pvc-sep"); got.UUID != rec.UUID || got.ImagePoolID != 7 {
		t.Fatalf("Lookup = %+v", got)
	}
	must(t, j.Undo(ctx, rec))
	assertClean(t, dir)
	assertClean(t, objs)
}

func vols(s journal.ObjectStore) *journal.Journal {
	return journal.New(s, journal.Options{Kind: journal.Volumes})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// assertClean fails unless the store holds no per-UUID object and no
// directory entry of either kind.
func assertClean(t *testing.T, s journal.ObjectStore) {
	t.Helper()
	ctx := context.Background()
	names, err := s.ListObjects(ctx, "csi.")
	must(t, err)
	for _, n := range names {
		if n == "csi.volumes.default" || n == "csi.snaps.default" {
			keys, err := s.ListOmap(ctx, n, "")
			must(t, err)
			if len(keys) != 0 {
				t.Errorf("directory %s still has keys %v", n, keys)
			}
			continue
		}
		t.Errorf("leftover object %s", n)
	}
}

func testStoreSemantics(t *testing.T, s journal.ObjectStore) {
	ctx := context.Background()
	if _, err := s.GetOmapValues(ctx, "csi.t.missing", []string{"a"}); !errors.Is(err, journal.ErrObjectNotFound) {
		t.Fatalf("GetOmapValues on missing object: %v, want ErrObjectNotFound", err)
	}
	if err := s.UpdateOmap(ctx, "csi.t.missing", map[string]string{"a": "1"}); !errors.Is(err, journal.ErrObjectNotFound) {
		t.Fatalf("UpdateOmap on missing object: %v, want ErrObjectNotFound", err)
	}
	must(t, s.RemoveOmapKeys(ctx, "csi.t.missing", []string{"a"}))
	must(t, s.Remove(ctx, "csi.t.missing"))
	must(t, s.CreateWithOmap(ctx, "csi.t.obj", map[string]string{"a": "1", "b": "2"}))
	if err := s.CreateWithOmap(ctx, "csi.t.obj", map[string]string{"a": "X"}); !errors.Is(err, journal.ErrObjectExists) {
		t.Fatalf("second exclusive create: %v, want ErrObjectExists", err)
	}
	got, err := s.GetOmapValues(ctx, "csi.t.obj", []string{"a", "zz"})
	must(t, err)
	if len(got) != 1 || got["a"] != "1" {
		t.Fatalf("GetOmapValues = %v, want a=1 only (exclusive create must not overwrite)", got)
	}
	must(t, s.UpdateOmap(ctx, "csi.t.obj", map[string]string{"c": "3"}))
	must(t, s.SetOmap(ctx, "csi.t.obj2", map[string]string{"p.x": "1", "q.y": "2"}))
	listed, err := s.ListOmap(ctx, "csi.t.obj2", "p.")
	must(t, err)
	if len(listed) != 1 || listed["p.x"] != "1" {
		t.Fatalf("ListOmap prefix = %v", listed)
	}
	must(t, s.RemoveOmapKeys(ctx, "csi.t.obj", []string{"a", "nope"}))
	all, err := s.ListOmap(ctx, "csi.t.obj", "")
	must(t, err)
	if len(all) != 2 || all["b"] != "2" || all["c"] != "3" {
		t.Fatalf("after remove: %v", all)
	}
	objs, err := s.ListObjects(ctx, "csi.t.")
	must(t, err)
	sort.Strings(objs)
	if strings.Join(objs, ",") != "csi.t.obj,csi.t.obj2" {
		t.Fatalf("ListObjects = %v", objs)
	}
	must(t, s.Remove(ctx, "csi.t.obj"))
	must(t, s.Remove(ctx, "csi.t.obj2"))
	objs, err = s.ListObjects(ctx, "csi.t.")
	must(t, err)
	if len(objs) != 0 {
		t.Fatalf("objects left: %v", objs)
	}
}

func testLookupMissing(t *testing.T, s journal.ObjectStore) {
	ctx := context.Background()
	j := vols(s)
	if _, err := j.Lookup(ctx, "pvc-none"); !errors.Is(err, journal.ErrNotFound) {
		t.Fatalf("Lookup without directory: %v, want ErrNotFound", err)
	}
	rec, err := j.Reserve(ctx, journal.Reservation{RequestName: "pvc-other", ImagePoolID: journal.SamePool})
	must(t, err)
	if _, err := j.Lookup(ctx, "pvc-none"); !errors.Is(err, journal.ErrNotFound) {
		t.Fatalf("Lookup of unknown name: %v, want ErrNotFound", err)
	}
	if _, err := j.Get(ctx, "00000000-0000-0000-0000-000000000000"); !errors.Is(err, journal.ErrNotFound) {
		t.Fatalf("Get of unknown UUID: %v, want ErrNotFound", err)
	}
	if _, err := j.Get(ctx, "not-a-uuid"); !errors.Is(err, journal.ErrNotFound) {
		t.Fatalf("Get of malformed UUID: %v, want ErrNotFound", err)
	}
	must(t, j.Undo(ctx, rec))
	assertClean(t, s)
}

func testReserveLookupGet(t *testing.T, s journal.ObjectStore) {
	ctx := context.Background()
	j := vols(s)
	rec, err := j.Reserve(ctx, journal.Reservation{
		RequestName: "pvc-1", ImagePoolID: journal.SamePool, Source: "src", Owner: "ns1",
		Attributes: map[string]string{journal.KeyEncryptKMS: "vault"},
	})
	must(t, err)
	if rec.ImageName != "csi-vol-"+rec.UUID {
		t.Errorf("ImageName = %q, want csi-vol-%s", rec.ImageName, rec.UUID)
	}
	for name, got := range map[string]*journal.Record{"Lookup": lookup(t, j, "pvc-1"), "Get": get(t, j, rec.UUID)} {
		if got.UUID != rec.UUID || got.RequestName != "pvc-1" || got.ImageName != rec.ImageName ||
			got.Source != "src" || got.Owner != "ns1" || got.Attributes[journal.KeyEncryptKMS] != "vault" {
			t.Errorf("%s = %+v, want the reserved record %+v", name, got, rec)
		}
	}
	custom, err := j.Reserve(ctx, journal.Reservation{RequestName: "pvc-2", NamePrefix: "k8s-", ImagePoolID: journal.SamePool})
	must(t, err)
	if custom.ImageName != "k8s-"+custom.UUID {
		t.Errorf("custom prefix: ImageName = %q", custom.ImageName)
	}
	must(t, j.Undo(ctx, rec))
	must(t, j.Undo(ctx, custom))
	assertClean(t, s)
}

func lookup(t *testing.T, j *journal.Journal, name string) *journal.Record {
	t.Helper()
	rec, err := j.Lookup(context.Background(), name)
	must(t, err)
	return rec
}

func get(t *testing.T, j *journal.Journal, id string) *journal.Record {
	t.Helper()
	rec, err := j.Get(context.Background(), id)
	must(t, err)
	return rec
}

func testReserveRepeated(t *testing.T, s journal.ObjectStore) {
	ctx := context.Background()
	a, err := vols(s).Reserve(ctx, journal.Reservation{RequestName: "pvc-r", ImagePoolID: journal.SamePool})
	must(t, err)
	b, err := vols(s).Reserve(ctx, journal.Reservation{RequestName: "pvc-r", ImagePoolID: journal.SamePool})
	must(t, err)
	if a.UUID != b.UUID {
		t.Fatalf("repeated Reserve gave %s then %s", a.UUID, b.UUID)
	}
	ids, err := vols(s).ListUUIDs(ctx)
	must(t, err)
	if len(ids) != 1 {
		t.Fatalf("UUID objects = %v, want 1", ids)
	}
	must(t, vols(s).Undo(ctx, a))
	assertClean(t, s)
}

func testDistinctNames(t *testing.T, s journal.ObjectStore) {
	ctx := context.Background()
	j := vols(s)
	seen := map[string]bool{}
	var recs []*journal.Record
	for i := 0; i < 5; i++ {
		rec, err := j.Reserve(ctx, journal.Reservation{RequestName: fmt.Sprintf("pvc-%d", i), ImagePoolID: journal.SamePool})
		must(t, err)
		if seen[rec.UUID] {
			t.Fatalf("UUID %s reused", rec.UUID)
		}
		seen[rec.UUID] = true
		recs = append(recs, rec)
	}
	for _, r := range recs {
		must(t, j.Undo(ctx, r))
	}
	assertClean(t, s)
}

func testImagePool(t *testing.T, s journal.ObjectStore) {
	ctx := context.Background()
	j := vols(s)
	rec, err := j.Reserve(ctx, journal.Reservation{RequestName: "pvc-p", ImagePoolID: 5})
	must(t, err)
	raw, err := s.GetOmapValues(ctx, "csi.volumes.default", []string{"csi.volume.pvc-p"})
	must(t, err)
	if want := "0000000000000005/" + rec.UUID; raw["csi.volume.pvc-p"] != want {
		t.Fatalf("directory value = %q, want %q", raw["csi.volume.pvc-p"], want)
	}
	if got := lookup(t, j, "pvc-p"); got.ImagePoolID != 5 || got.UUID != rec.UUID {
		t.Fatalf("Lookup = %+v, want pool 5", got)
	}
	must(t, j.Undo(ctx, rec))
	assertClean(t, s)
}

func testCollision(t *testing.T, s journal.ObjectStore) {
	ctx := context.Background()
	j := vols(s)
	first, err := j.Reserve(ctx, journal.Reservation{RequestName: "pvc-c", ImagePoolID: journal.SamePool})
	must(t, err)
	// Give the derived UUID object to another request and drop the name.
	must(t, s.UpdateOmap(ctx, "csi.volume."+first.UUID, map[string]string{"csi.volname": "pvc-intruder"}))
	must(t, s.RemoveOmapKeys(ctx, "csi.volumes.default", []string{"csi.volume.pvc-c"}))

	const fallback = "11111111-2222-3333-4444-555555555555"
	j2 := journal.New(s, journal.Options{Kind: journal.Volumes, RandomUUID: func() string { return fallback }})
	second, err := j2.Reserve(ctx, journal.Reservation{RequestName: "pvc-c", ImagePoolID: journal.SamePool})
	must(t, err)
	if second.UUID != fallback {
		t.Fatalf("collision: got UUID %s, want the random fallback %s", second.UUID, fallback)
	}
	if got := lookup(t, j2, "pvc-c"); got.UUID != fallback {
		t.Fatalf("Lookup after collision = %s", got.UUID)
	}
	intruder := get(t, j, first.UUID)
	if intruder.RequestName != "pvc-intruder" {
		t.Fatalf("the other request's record was touched: %+v", intruder)
	}
	must(t, j.Undo(ctx, second))
	must(t, j.Undo(ctx, intruder))
	assertClean(t, s)
}

func testSetAttributes(t *testing.T, s journal.ObjectStore) {
	ctx := context.Background()
	j := vols(s)
	rec, err := j.Reserve(ctx, journal.Reservation{RequestName: "pvc-a", ImagePoolID: journal.SamePool})
	must(t, err)
	must(t, j.SetImageID(ctx, rec.UUID, "abc123"))
	must(t, j.SetImageID(ctx, rec.UUID, "abc123"))
	must(t, j.SetAttributes(ctx, rec.UUID, map[string]string{journal.KeyBackingSnapshotID: "x"}))
	got := get(t, j, rec.UUID)
	if got.ImageID != "abc123" || got.Attributes[journal.KeyBackingSnapshotID] != "x" || got.RequestName != "pvc-a" {
		t.Fatalf("after SetAttributes: %+v", got)
	}
	if err := j.SetAttributes(ctx, rec.UUID, map[string]string{"csi.volname": "evil"}); err == nil {
		t.Fatal("SetAttributes may not rename a record")
	}
	missing := "99999999-9999-9999-9999-999999999999"
	if err := j.SetImageID(ctx, missing, "x"); !errors.Is(err, journal.ErrNotFound) {
		t.Fatalf("SetImageID on missing record: %v, want ErrNotFound", err)
	}
	if _, err := s.ListOmap(ctx, "csi.volume."+missing, ""); !errors.Is(err, journal.ErrObjectNotFound) {
		t.Fatalf("SetImageID on a missing record created it: %v", err)
	}
	must(t, j.Undo(ctx, rec))
	assertClean(t, s)
}

func testUndo(t *testing.T, s journal.ObjectStore) {
	ctx := context.Background()
	j := vols(s)
	rec, err := j.Reserve(ctx, journal.Reservation{RequestName: "pvc-u", ImagePoolID: journal.SamePool})
	must(t, err)
	must(t, j.Undo(ctx, rec))
	must(t, j.Undo(ctx, rec))
	if _, err := j.Lookup(ctx, "pvc-u"); !errors.Is(err, journal.ErrNotFound) {
		t.Fatalf("Lookup after Undo: %v", err)
	}
	if _, err := j.Get(ctx, rec.UUID); !errors.Is(err, journal.ErrNotFound) {
		t.Fatalf("Get after Undo: %v", err)
	}
	assertClean(t, s)
	again, err := j.Reserve(ctx, journal.Reservation{RequestName: "pvc-u", ImagePoolID: journal.SamePool})
	must(t, err)
	must(t, j.Undo(ctx, again))
	assertClean(t, s)
}

func testUndoForeign(t *testing.T, s journal.ObjectStore) {
	ctx := context.Background()
	j := vols(s)
	rec, err := j.Reserve(ctx, journal.Reservation{RequestName: "pvc-f", ImagePoolID: journal.SamePool})
	must(t, err)
	stale := &journal.Record{UUID: "12345678-1234-1234-1234-123456789abc", RequestName: "pvc-f"}
	must(t, j.Undo(ctx, stale))
	if got := lookup(t, j, "pvc-f"); got.UUID != rec.UUID {
		t.Fatalf("Undo of a stale UUID removed the live entry: %+v", got)
	}
	must(t, j.Undo(ctx, rec))
	assertClean(t, s)
}

func testDangling(t *testing.T, s journal.ObjectStore) {
	ctx := context.Background()
	j := vols(s)
	must(t, s.SetOmap(ctx, "csi.volumes.default", map[string]string{
		"csi.volume.pvc-d": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
	}))
	if _, err := j.Lookup(ctx, "pvc-d"); !errors.Is(err, journal.ErrNotFound) {
		t.Fatalf("Lookup of dangling entry: %v, want ErrNotFound", err)
	}
	assertClean(t, s)
}

func testCorrupt(t *testing.T, s journal.ObjectStore) {
	ctx := context.Background()
	j := vols(s)
	rec, err := j.Reserve(ctx, journal.Reservation{RequestName: "pvc-x", ImagePoolID: journal.SamePool})
	must(t, err)
	must(t, s.SetOmap(ctx, "csi.volumes.default", map[string]string{"csi.volume.pvc-y": rec.UUID}))
	if _, err := j.Lookup(ctx, "pvc-y"); !errors.Is(err, journal.ErrCorrupt) {
		t.Fatalf("Lookup of a name pointing at another record: %v, want ErrCorrupt", err)
	}
	must(t, s.SetOmap(ctx, "csi.volumes.default", map[string]string{"csi.volume.pvc-z": "garbage"}))
	if _, err := j.Lookup(ctx, "pvc-z"); !errors.Is(err, journal.ErrCorrupt) {
		t.Fatalf("Lookup of a malformed value: %v, want ErrCorrupt", err)
	}
	must(t, s.RemoveOmapKeys(ctx, "csi.volumes.default", []string{"csi.volume.pvc-y", "csi.volume.pvc-z"}))
	must(t, j.Undo(ctx, rec))
	assertClean(t, s)
}

// testCephCSICompat writes records exactly as ceph-csi lays them out and
// reads them back.
func testCephCSICompat(t *testing.T, s journal.ObjectStore) {
	ctx := context.Background()
	const id = "7b50e081-a053-11ec-b2dd-fa163ed7971b"
	must(t, s.SetOmap(ctx, "csi.volumes.default", map[string]string{"csi.volume.pvc-legacy": id}))
	must(t, s.SetOmap(ctx, "csi.volume."+id, map[string]string{
		"csi.volname":      "pvc-legacy",
		"csi.imagename":    "csi-vol-" + id,
		"csi.imageid":      "10d9a6b8b4567",
		"csi.volume.owner": "default",
	}))
	j := vols(s)
	rec := lookup(t, j, "pvc-legacy")
	if rec.UUID != id || rec.ImageName != "csi-vol-"+id || rec.ImageID != "10d9a6b8b4567" || rec.Owner != "default" {
		t.Fatalf("legacy record read as %+v", rec)
	}
	// A Reserve for the legacy name after Lookup found it is not expected,
	// but Lookup must keep returning the legacy UUID.
	must(t, j.Undo(ctx, rec))
	assertClean(t, s)
}

func testSnapshotLayout(t *testing.T, s journal.ObjectStore) {
	ctx := context.Background()
	j := journal.New(s, journal.Options{Kind: journal.Snapshots})
	rec, err := j.Reserve(ctx, journal.Reservation{RequestName: "snap-1", ImagePoolID: journal.SamePool, Source: "csi-vol-x"})
	must(t, err)
	if rec.ImageName != "csi-snap-"+rec.UUID {
		t.Fatalf("snapshot image name %q", rec.ImageName)
	}
	raw, err := s.GetOmapValues(ctx, "csi.snaps.default", []string{"csi.snap.snap-1"})
	must(t, err)
	if raw["csi.snap.snap-1"] != rec.UUID {
		t.Fatalf("snapshot directory = %v", raw)
	}
	attrs, err := s.ListOmap(ctx, "csi.snap."+rec.UUID, "")
	must(t, err)
	if attrs["csi.snapname"] != "snap-1" || attrs["csi.source"] != "csi-vol-x" || attrs["csi.imagename"] != rec.ImageName {
		t.Fatalf("snapshot attributes = %v", attrs)
	}
	if _, err := vols(s).Lookup(ctx, "snap-1"); !errors.Is(err, journal.ErrNotFound) {
		t.Fatal("a snapshot name is visible in the volume journal")
	}
	must(t, j.Undo(ctx, rec))
	assertClean(t, s)
}

// testCrashReserve kills Reserve before each of its writes, then retries the
// same request in a "restarted process" and checks that exactly one
// reservation results and that Undo leaves nothing.
func testCrashReserve(t *testing.T, s journal.ObjectStore) {
	ctx := context.Background()
	ref, err := vols(journal.ObjectStore(NewCrashStore(s, 0))).Reserve(ctx, journal.Reservation{RequestName: "pvc-ref", ImagePoolID: journal.SamePool})
	must(t, err)
	must(t, vols(s).Undo(ctx, ref))
	for failAt := 1; failAt <= 2; failAt++ {
		name := fmt.Sprintf("pvc-crash-%d", failAt)
		crashed := vols(NewCrashStore(s, failAt))
		if _, err := crashed.Reserve(ctx, journal.Reservation{RequestName: name, ImagePoolID: journal.SamePool}); !errors.Is(err, ErrCrash) {
			t.Fatalf("failAt=%d: Reserve = %v, want the crash", failAt, err)
		}
		restarted := vols(s)
		rec, err := restarted.Lookup(ctx, name)
		if errors.Is(err, journal.ErrNotFound) {
			rec, err = restarted.Reserve(ctx, journal.Reservation{RequestName: name, ImagePoolID: journal.SamePool})
		}
		must(t, err)
		ids, err := restarted.ListUUIDs(ctx)
		must(t, err)
		if len(ids) != 1 || ids[0] != rec.UUID {
			t.Fatalf("failAt=%d: UUID objects %v, want only %s", failAt, ids, rec.UUID)
		}
		if again := lookup(t, restarted, name); again.UUID != rec.UUID {
			t.Fatalf("failAt=%d: Lookup = %s, want %s", failAt, again.UUID, rec.UUID)
		}
		must(t, restarted.Undo(ctx, rec))
		assertClean(t, s)
	}
}

// testCrashUndo kills Undo before each of its writes; a retried delete knows
// only the UUID (from the CSI volume ID) and must finish the job.
func testCrashUndo(t *testing.T, s journal.ObjectStore) {
	ctx := context.Background()
	for failAt := 1; failAt <= 2; failAt++ {
		name := fmt.Sprintf("pvc-undo-%d", failAt)
		rec, err := vols(s).Reserve(ctx, journal.Reservation{RequestName: name, ImagePoolID: journal.SamePool})
		must(t, err)
		if err := vols(NewCrashStore(s, failAt)).Undo(ctx, rec); !errors.Is(err, ErrCrash) {
			t.Fatalf("failAt=%d: Undo = %v, want the crash", failAt, err)
		}
		restarted := vols(s)
		again, err := restarted.Get(ctx, rec.UUID)
		if errors.Is(err, journal.ErrNotFound) {
			again = &journal.Record{UUID: rec.UUID}
		} else {
			must(t, err)
		}
		must(t, restarted.Undo(ctx, again))
		if _, err := restarted.Lookup(ctx, name); !errors.Is(err, journal.ErrNotFound) {
			t.Fatalf("failAt=%d: Lookup after retried Undo: %v", failAt, err)
		}
		assertClean(t, s)
	}
}

// testTwins races reservations of one name from independent journals, as two
// processes would, with no lock between them.
func testTwins(t *testing.T, s journal.ObjectStore) {
	ctx := context.Background()
	const twins = 16
	ids := make([]string, twins)
	errs := make([]error, twins)
	var wg sync.WaitGroup
	for i := 0; i < twins; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			rec, err := vols(s).Reserve(ctx, journal.Reservation{RequestName: "pvc-twin", ImagePoolID: journal.SamePool})
			if err == nil {
				ids[i] = rec.UUID
			}
			errs[i] = err
		}(i)
	}
	wg.Wait()
	for i := range ids {
		must(t, errs[i])
		if ids[i] != ids[0] {
			t.Fatalf("twin %d got %s, twin 0 got %s", i, ids[i], ids[0])
		}
	}
	all, err := vols(s).ListUUIDs(ctx)
	must(t, err)
	if len(all) != 1 {
		t.Fatalf("twins left %d UUID objects: %v", len(all), all)
	}
	must(t, vols(s).Undo(ctx, lookup(t, vols(s), "pvc-twin")))
	assertClean(t, s)
}

// testRoundTrips pins the documented cost of each operation.
func testRoundTrips(t *testing.T, s journal.ObjectStore) {
	ctx := context.Background()
	c := &CountingStore{ObjectStore: s}
	j := vols(c)
	step := func(name string, want int, fn func() error) {
		t.Helper()
		c.Reset()
		must(t, fn())
		if got := c.Calls(); got != want {
			t.Errorf("%s: %d round trips, want %d", name, got, want)
		}
	}
	var rec *journal.Record
	step("Lookup (miss)", 1, func() error {
		_, err := j.Lookup(ctx, "pvc-rt")
		if errors.Is(err, journal.ErrNotFound) {
			return nil
		}
		return fmt.Errorf("lookup: %v", err)
	})
	step("Reserve", 2, func() (err error) {
		rec, err = j.Reserve(ctx, journal.Reservation{RequestName: "pvc-rt", ImagePoolID: journal.SamePool})
		return err
	})
	step("SetImageID", 1, func() error { return j.SetImageID(ctx, rec.UUID, "id1") })
	step("Lookup (hit)", 2, func() error { _, err := j.Lookup(ctx, "pvc-rt"); return err })
	step("Get", 1, func() error { _, err := j.Get(ctx, rec.UUID); return err })
	step("Undo", 3, func() error { return j.Undo(ctx, rec) })
	assertClean(t, s)
}

// testReserveWithImageID: the image is created first under the planned name,
// then reserved with its ID in the same 2 round trips; a retry that adopts a
// record without the ID (a crash of the older order) records it.
func testReserveWithImageID(t *testing.T, s journal.ObjectStore) {
	ctx := context.Background()
	c := &CountingStore{ObjectStore: s}
	j := vols(c)
	r := journal.Reservation{RequestName: "pvc-planned", ImagePoolID: journal.SamePool, ImageID: "abc123"}
	id, name := j.Planned(r)
	rec, err := j.Reserve(ctx, r)
	must(t, err)
	if rec.UUID != id || rec.ImageName != name || name != "csi-vol-"+id {
		t.Fatalf("Reserve = %s/%s, Planned = %s/%s", rec.UUID, rec.ImageName, id, name)
	}
	if got := c.Calls(); got != 2 {
		t.Errorf("Reserve with ImageID: %d round trips, want 2", got)
	}
	if got := lookup(t, j, "pvc-planned"); got.ImageID != "abc123" {
		t.Fatalf("ImageID = %q, want abc123", got.ImageID)
	}
	// A twin adopting the record keeps the same ID without writing.
	c.Reset()
	again, err := j.Reserve(ctx, r)
	must(t, err)
	if again.UUID != id || again.ImageID != "abc123" {
		t.Fatalf("second Reserve = %+v", again)
	}
	// An earlier attempt's record without the ID gets it.
	old, err := j.Reserve(ctx, journal.Reservation{RequestName: "pvc-old", ImagePoolID: journal.SamePool})
	must(t, err)
	upd, err := j.Reserve(ctx, journal.Reservation{RequestName: "pvc-old", ImagePoolID: journal.SamePool, ImageID: "def"})
	must(t, err)
	if upd.UUID != old.UUID || upd.ImageID != "def" || get(t, j, old.UUID).ImageID != "def" {
		t.Fatalf("adopted record = %+v", upd)
	}
	must(t, j.Undo(ctx, rec))
	must(t, j.Undo(ctx, upd))
	assertClean(t, s)
}

func testList(t *testing.T, s journal.ObjectStore) {
	ctx := context.Background()
	j := vols(s)
	a, err := j.Reserve(ctx, journal.Reservation{RequestName: "pvc-l1", ImagePoolID: journal.SamePool})
	must(t, err)
	b, err := j.Reserve(ctx, journal.Reservation{RequestName: "pvc-l2", ImagePoolID: 3})
	must(t, err)
	// An unreferenced UUID object, as a crash before the directory write
	// leaves it.
	orphan := "0badc0de-0000-4000-8000-000000000000"
	must(t, s.CreateWithOmap(ctx, "csi.volume."+orphan, map[string]string{"csi.volname": "pvc-orphan"}))
	entries, err := j.List(ctx)
	must(t, err)
	sort.Slice(entries, func(x, y int) bool { return entries[x].RequestName < entries[y].RequestName })
	if len(entries) != 2 || entries[0].UUID != a.UUID || entries[1].UUID != b.UUID || entries[1].ImagePoolID != 3 {
		t.Fatalf("List = %+v", entries)
	}
	ids, err := j.ListUUIDs(ctx)
	must(t, err)
	sort.Strings(ids)
	want := []string{a.UUID, b.UUID, orphan}
	sort.Strings(want)
	if strings.Join(ids, ",") != strings.Join(want, ",") {
		t.Fatalf("ListUUIDs = %v, want %v", ids, want)
	}
	must(t, j.Undo(ctx, a))
	must(t, j.Undo(ctx, b))
	must(t, j.Undo(ctx, &journal.Record{UUID: orphan}))
	assertClean(t, s)
}
