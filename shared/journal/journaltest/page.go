package journaltest

import (
	"context"
	"fmt"
	"testing"

	"github.com/seed-6a310834/ceph-csi/shared/journal"
)

// plainStore hides a store's PagedStore implementation, so that Page takes
// its ListOmap fallback.
type plainStore struct{ journal.ObjectStore }

// testPage reserves 7 names out of order, pages through them 3 at a time
// and checks order, bounds, the start-after semantics (a removed last entry
// still works as a cursor) and an empty directory.
func testPage(t *testing.T, s journal.ObjectStore) {
	ctx := context.Background()
	j := journal.New(s, journal.Options{Kind: journal.Volumes, Instance: "page"})
	if got, err := j.Page(ctx, "", 3); err != nil || len(got) != 0 {
		t.Fatalf("Page of a missing directory = %v, %v; want none", got, err)
	}
	names := []string{"pvc-5", "pvc-2", "pvc-7", "pvc-1", "pvc-4", "pvc-6", "pvc-3"}
	recs := map[string]*journal.Record{}
	for i, n := range names {
		rec, err := j.Reserve(ctx, journal.Reservation{RequestName: n, ImagePoolID: int64(i)})
		if err != nil {
			t.Fatal(err)
		}
		recs[n] = rec
	}
	var seen []string
	after := ""
	for pages := 0; ; pages++ {
		got, err := j.Page(ctx, after, 3)
		if err != nil || len(got) > 3 || pages > 3 {
			t.Fatalf("Page(%q, 3) = %v, %v after %d pages", after, got, err, pages)
		}
		if len(got) == 0 {
			break
		}
		for _, e := range got {
			if e.UUID != recs[e.RequestName].UUID || e.ImagePoolID != recs[e.RequestName].ImagePoolID {
				t.Fatalf("entry %+v does not match record %+v", e, recs[e.RequestName])
			}
			seen = append(seen, e.RequestName)
		}
		after = got[len(got)-1].RequestName
	}
	if fmt.Sprint(seen) != "[pvc-1 pvc-2 pvc-3 pvc-4 pvc-5 pvc-6 pvc-7]" {
		t.Fatalf("paged names = %v", seen)
	}
	if err := j.Undo(ctx, recs["pvc-3"]); err != nil {
		t.Fatal(err)
	}
	got, err := j.Page(ctx, "pvc-3", 2)
	if err != nil || len(got) != 2 || got[0].RequestName != "pvc-4" || got[1].RequestName != "pvc-5" {
		t.Fatalf("Page after a removed cursor = %v, %v; want pvc-4, pvc-5", got, err)
	}
	if _, err := j.Page(ctx, "", 0); err == nil {
		t.Fatal("Page with size 0 succeeded")
	}
}
