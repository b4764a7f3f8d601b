package journal_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/journal/memstore"
)

func TestInstances(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	for _, inst := range []string{"a", "b"} {
		j := journal.New(store, journal.Options{Kind: journal.Volumes, Instance: inst})
		if _, err := j.Reserve(ctx, journal.Reservation{RequestName: "pvc-" + inst, ImagePoolID: journal.SamePool}); err != nil {
			t.Fatal(err)
		}
	}
	snaps := journal.New(store, journal.Options{Kind: journal.Snapshots, Instance: "c"})
	if _, err := snaps.Reserve(ctx, journal.Reservation{RequestName: "snap", ImagePoolID: journal.SamePool}); err != nil {
		t.Fatal(err)
	}
	got, err := journal.Instances(ctx, store, journal.Volumes)
	slices.Sort(got)
	if err != nil || !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("volume instances %q, %v; want a and b (not the UUID objects, not the snapshot journal)", got, err)
	}
	if got, err := journal.Instances(ctx, store, journal.Snapshots); err != nil || !slices.Equal(got, []string{"c"}) {
		t.Fatalf("snapshot instances %q, %v", got, err)
	}
}

func TestEntryIsReadOnly(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	j := journal.New(store, journal.Options{Kind: journal.Volumes, Instance: "a"})
	rec, err := j.Reserve(ctx, journal.Reservation{RequestName: "pvc-1", ImagePoolID: 7})
	if err != nil {
		t.Fatal(err)
	}
	if j.DirectoryObject() != "csi.volumes.a" || j.UUIDObject(rec.UUID) != "csi.volume."+rec.UUID {
		t.Fatalf("object names %q %q", j.DirectoryObject(), j.UUIDObject(rec.UUID))
	}
	if err := store.Remove(ctx, j.UUIDObject(rec.UUID)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // Entry twice: it must not repair the dangling entry
		e, err := j.Entry(ctx, "pvc-1")
		if err != nil || e.UUID != rec.UUID || e.ImagePoolID != 7 {
			t.Fatalf("Entry = %+v, %v", e, err)
		}
	}
	if _, err := j.Entry(ctx, "pvc-unknown"); !errors.Is(err, journal.ErrNotFound) {
		t.Fatalf("Entry of an unknown name: %v, want ErrNotFound", err)
	}
	if _, err := journal.New(memstore.New(), journal.Options{}).Entry(ctx, "x"); !errors.Is(err, journal.ErrNotFound) {
		t.Fatalf("Entry without a directory: %v, want ErrNotFound", err)
	}
}
