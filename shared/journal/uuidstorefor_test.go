package journal_test

import (
	"context"
	"errors"
	"testing"

	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/journal/memstore"
)

// One journal pool serving two image pools: Lookup must read the UUID
// object from the pool the directory entry names, and must not mistake the
// entry for a dangling one.
func TestLookupFollowsTheImagePool(t *testing.T) {
	ctx := context.Background()
	dir, poolA, poolB := memstore.New(), memstore.New(), memstore.New()
	stores := map[int64]journal.ObjectStore{1: poolA, 2: poolB}
	open := func(images journal.ObjectStore) *journal.Journal {
		return journal.New(dir, journal.Options{UUIDStore: images,
			UUIDStoreFor: func(_ context.Context, id int64) (journal.ObjectStore, error) {
				if s, ok := stores[id]; ok {
					return s, nil
				}
				return nil, errors.New("no such pool")
			}})
	}
	rec, err := open(poolA).Reserve(ctx, journal.Reservation{RequestName: "pvc-1", ImagePoolID: 1})
	if err != nil {
		t.Fatal(err)
	}
	got, err := open(poolB).Lookup(ctx, "pvc-1")
	if err != nil {
		t.Fatalf("Lookup through pool B's journal: %v", err)
	}
	if got.UUID != rec.UUID || got.ImagePoolID != 1 {
		t.Fatalf("Lookup = %+v, want UUID %s in pool 1", got, rec.UUID)
	}
	if _, err := open(poolA).Lookup(ctx, "pvc-1"); err != nil {
		t.Fatalf("the entry was lost: %v", err)
	}
}
