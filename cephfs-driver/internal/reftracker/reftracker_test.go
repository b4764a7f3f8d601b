package reftracker

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/journal/memstore"
)

const oid = "rt-backingsnapshot-snap"

// raw reads the tracker's bytes as ceph-csi would see them.
func raw(t *testing.T, st *memstore.Store) *journal.VersionedObject {
	t.Helper()
	obj, err := st.ReadVersioned(context.Background(), oid, VersionXattr, 16, nil)
	if err != nil {
		t.Fatal(err)
	}
	return obj
}

func TestLayout(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	if err := Add(ctx, st, oid, "snap", "vol-a"); err != nil {
		t.Fatal(err)
	}
	obj := raw(t, st)
	if !bytes.Equal(obj.Xattr, []byte{0, 0, 0, 1}) || !bytes.Equal(obj.Data, []byte{0, 0, 0, 2}) ||
		!bytes.Equal(obj.Omap["snap"], []byte{1}) || !bytes.Equal(obj.Omap["vol-a"], []byte{1}) || len(obj.Omap) != 2 {
		t.Fatalf("tracker %+v: want version 1, count 2, two Normal refs", obj)
	}
	if err := Add(ctx, st, oid, "snap", "vol-b"); err != nil {
		t.Fatal(err)
	}
	if obj := raw(t, st); !bytes.Equal(obj.Data, []byte{0, 0, 0, 3}) {
		t.Fatalf("count after adding vol-b: %x, want 3", obj.Data)
	}
	gone, err := Remove(ctx, st, oid, map[string]Type{"snap": Masked}, nil)
	if err != nil || gone {
		t.Fatalf("mask: gone %v, %v", gone, err)
	}
	if obj := raw(t, st); !bytes.Equal(obj.Data, []byte{0, 0, 0, 2}) || !bytes.Equal(obj.Omap["snap"], []byte{2}) {
		t.Fatalf("after masking: %+v", obj)
	}
	// A masked reference is not added again.
	if err := Add(ctx, st, oid, "snap"); err != nil {
		t.Fatal(err)
	}
	if obj := raw(t, st); !bytes.Equal(obj.Omap["snap"], []byte{2}) {
		t.Fatalf("Add unmasked a masked ref: %+v", obj)
	}
	if gone, err := Remove(ctx, st, oid, map[string]Type{"vol-a": Normal}, nil); err != nil || gone {
		t.Fatalf("remove vol-a: gone %v, %v", gone, err)
	}
	// Repeating is harmless.
	if gone, err := Remove(ctx, st, oid, map[string]Type{"vol-a": Normal}, nil); err != nil || gone {
		t.Fatalf("remove vol-a again: gone %v, %v", gone, err)
	}
	calls := 0
	before := func() error {
		calls++
		if _, err := st.ReadVersioned(ctx, oid, VersionXattr, 4, nil); err != nil {
			t.Errorf("beforeDelete ran after the tracker was removed: %v", err)
		}
		return nil
	}
	if gone, err := Remove(ctx, st, oid, map[string]Type{"vol-b": Normal}, before); err != nil || !gone || calls != 1 {
		t.Fatalf("remove the last ref: gone %v, %v, beforeDelete ran %d times", gone, err, calls)
	}
	if names, _ := st.ListObjects(ctx, ""); len(names) != 0 {
		t.Fatalf("objects left: %v", names)
	}
	if gone, err := Remove(ctx, st, oid, map[string]Type{"vol-b": Normal}, nil); err != nil || !gone {
		t.Fatalf("remove from a missing tracker: gone %v, %v", gone, err)
	}
}

func TestBeforeDeleteFailureKeepsTracker(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	if err := Add(ctx, st, oid, "vol"); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if _, err := Remove(ctx, st, oid, map[string]Type{"vol": Normal}, func() error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("error %v, want boom", err)
	}
	if tr, err := Read(ctx, st, oid, nil); err != nil || tr.Count != 1 {
		t.Fatalf("tracker after a failed beforeDelete: %+v, %v", tr, err)
	}
}

func TestCorrupt(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	if err := st.CreateVersioned(ctx, oid, VersionXattr, []byte{0, 0, 0, 9}, []byte{0, 0, 0, 1}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(ctx, st, oid, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("unknown version: %v, want ErrCorrupt", err)
	}
	if err := Add(ctx, st, oid, "x"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Add to an unknown version: %v, want ErrCorrupt", err)
	}
}
