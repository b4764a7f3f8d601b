package journal_test

import (
	"context"
	"errors"
	"testing"

	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/journal/memstore"
)

// TestCephCSISplitRecord: with a separate journal pool ceph-csi creates the
// UUID object empty in the image pool and writes the attributes to the
// object of the same name in the journal pool. Lookup and Get read it
// there, and Undo removes the entry and both objects.
func TestCephCSISplitRecord(t *testing.T) {
	ctx := context.Background()
	dir, images := memstore.New(), memstore.New()
	const id = "6f1c2a4e-8b1d-4c5e-9f00-0123456789ab"
	must(t, images.CreateWithOmap(ctx, "csi.volume."+id, map[string]string{}))
	must(t, dir.SetOmap(ctx, "csi.volume."+id, map[string]string{
		"csi.volname": "pvc-1", "csi.imagename": "csi-vol-" + id, "csi.imageid": "abc",
		"csi.journalpool": "0000000000000007",
	}))
	must(t, dir.SetOmap(ctx, "csi.volumes.default", map[string]string{"csi.volume.pvc-1": "0000000000000003/" + id}))
	j := journal.New(dir, journal.Options{UUIDStore: images})

	rec, err := j.Lookup(ctx, "pvc-1")
	if err != nil || rec.ImageName != "csi-vol-"+id || rec.ImageID != "abc" || rec.ImagePoolID != 3 ||
		rec.Attributes["csi.journalpool"] != "0000000000000007" {
		t.Fatalf("Lookup = %+v, %v", rec, err)
	}
	if got, err := j.Get(ctx, id); err != nil || got.RequestName != "pvc-1" {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	must(t, j.Undo(ctx, rec))
	for name, st := range map[string]journal.ObjectStore{"journal pool": dir, "image pool": images} {
		if objs, _ := st.ListObjects(ctx, "csi.volume."); len(objs) != 0 {
			t.Errorf("%s still holds %v", name, objs)
		}
	}
	if _, err := j.Lookup(ctx, "pvc-1"); !errors.Is(err, journal.ErrNotFound) {
		t.Errorf("Lookup after Undo: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
