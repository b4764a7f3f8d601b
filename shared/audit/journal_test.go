package audit

import (
	"context"
	"errors"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/journal/memstore"
)

// clockedStore is the in-memory store with RADOS-like object mtimes: every
// write stamps the object with the store's clock.
type clockedStore struct {
	*memstore.Store
	now   time.Time
	mtime map[string]time.Time
}

func newClockedStore() *clockedStore {
	return &clockedStore{Store: memstore.New(), now: t0, mtime: map[string]time.Time{}}
}

func (s *clockedStore) stamp(oid string, err error) error {
	if err == nil {
		s.mtime[oid] = s.now
	}
	return err
}

func (s *clockedStore) CreateWithOmap(ctx context.Context, oid string, p map[string]string) error {
	return s.stamp(oid, s.Store.CreateWithOmap(ctx, oid, p))
}

func (s *clockedStore) SetOmap(ctx context.Context, oid string, p map[string]string) error {
	return s.stamp(oid, s.Store.SetOmap(ctx, oid, p))
}

func (s *clockedStore) UpdateOmap(ctx context.Context, oid string, p map[string]string) error {
	return s.stamp(oid, s.Store.UpdateOmap(ctx, oid, p))
}

func (s *clockedStore) RemoveOmapKeys(ctx context.Context, oid string, keys []string) error {
	return s.stamp(oid, s.Store.RemoveOmapKeys(ctx, oid, keys))
}

func (s *clockedStore) ModTime(ctx context.Context, oid string) (time.Time, error) {
	if _, err := s.ListOmap(ctx, oid, ""); err != nil {
		return time.Time{}, err
	}
	return s.mtime[oid], nil
}

// fixture is a volume journal of instance "ours" with one record of each
// state.
type fixture struct {
	store *clockedStore
	ours  *journal.Journal
	other *journal.Journal
	recs  map[string]*journal.Record
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{store: newClockedStore(), recs: map[string]*journal.Record{}}
	f.ours = journal.New(f.store, journal.Options{Instance: "ours"})
	f.other = journal.New(f.store, journal.Options{Instance: "other"})
	ctx := context.Background()
	for _, name := range []string{"healthy", "dangling", "unlisted"} {
		f.recs[name] = f.reserve(t, f.ours, name)
	}
	f.recs["theirs"] = f.reserve(t, f.other, "theirs")
	f.store.now = t0.Add(time.Hour)
	if err := f.store.Remove(ctx, f.ours.UUIDObject(f.recs["dangling"].UUID)); err != nil {
		t.Fatal(err)
	}
	if err := f.store.RemoveOmapKeys(ctx, f.ours.DirectoryObject(), []string{"csi.volume.unlisted"}); err != nil {
		t.Fatal(err)
	}
	f.store.now = t0.Add(2 * time.Hour)
	return f
}

func (f *fixture) reserve(t *testing.T, j *journal.Journal, name string) *journal.Record {
	t.Helper()
	rec, err := j.Reserve(context.Background(), journal.Reservation{RequestName: name, ImagePoolID: journal.SamePool})
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func (f *fixture) scan(t *testing.T) *JournalScan {
	t.Helper()
	s, err := ScanJournal(context.Background(), JournalSource{Kind: journal.Volumes, Instance: "ours",
		Dir: f.store, Objects: f.store, DirWhere: "pool", ObjectsWhere: "pool"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func byName(findings []*Finding) map[string]*Finding {
	out := map[string]*Finding{}
	for _, f := range findings {
		out[f.Kind.String()+" "+f.Name] = f
	}
	return out
}

func keys(m map[string]*Finding) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestScanJournal: a dangling entry and an unreferenced record of ours are
// found, with the directory's and the object's ages; the healthy record is
// listed for the driver to check; another instance's record is neither.
func TestScanJournal(t *testing.T) {
	f := newFixture(t)
	s := f.scan(t)
	got := byName(s.Findings)
	dangling := "dangling-entry pool/csi.volumes.ours[dangling]"
	unlisted := "unreferenced-record pool/csi.volume." + f.recs["unlisted"].UUID
	if !slices.Equal(keys(got), []string{dangling, unlisted}) {
		t.Fatalf("findings %q, want %q and %q", keys(got), dangling, unlisted)
	}
	if !got[dangling].Since.Equal(t0.Add(time.Hour)) || !got[unlisted].Since.Equal(t0) {
		t.Errorf("ages: dangling since %v (want the directory's last write), unlisted since %v (want its creation)",
			got[dangling].Since, got[unlisted].Since)
	}
	if len(s.Records) != 1 || s.Records[0].RequestName != "healthy" || !s.Records[0].Since.Equal(t0) {
		t.Fatalf("records %+v, want only the healthy one", s.Records)
	}
	for _, name := range []string{"healthy", "unlisted", "theirs"} {
		if _, ok := s.Recorded(f.recs[name].UUID); !ok {
			t.Errorf("Recorded(%s) = false; every UUID object counts, whatever its instance", name)
		}
	}
}

// TestScanJournalScope: entries and records outside the audited pool are
// left alone.
func TestScanJournalScope(t *testing.T) {
	f := newFixture(t)
	s, err := ScanJournal(context.Background(), JournalSource{Kind: journal.Volumes, Instance: "ours",
		Dir: f.store, Objects: f.store, DirWhere: "pool", ObjectsWhere: "pool",
		EntryInScope:  func(journal.Entry) bool { return false },
		RecordInScope: func(*journal.Record) bool { return false }})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Findings) != 0 || len(s.Records) != 0 {
		t.Fatalf("findings %v, records %v; want none in scope", keys(byName(s.Findings)), s.Records)
	}
}

func TestScanJournalNeedsObjectAges(t *testing.T) {
	_, err := ScanJournal(context.Background(), JournalSource{Kind: journal.Volumes, Dir: memstore.New(), Objects: memstore.New()})
	if err == nil {
		t.Fatal("a store that cannot tell ages must be refused")
	}
}

func TestRemoveDanglingEntry(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	d := byName(f.scan(t).Findings)["dangling-entry pool/csi.volumes.ours[dangling]"]
	if err := d.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ours.Entry(ctx, "dangling"); !errors.Is(err, journal.ErrNotFound) {
		t.Fatalf("entry still there: %v", err)
	}
	if _, err := f.ours.Lookup(ctx, "healthy"); err != nil {
		t.Fatalf("the healthy record suffered: %v", err)
	}
}

func TestRemoveDanglingEntryReservedAgain(t *testing.T) {
	f := newFixture(t)
	d := byName(f.scan(t).Findings)["dangling-entry pool/csi.volumes.ours[dangling]"]
	f.reserve(t, f.ours, "dangling") // the CO retried: a complete reservation now
	if err := d.Remove(context.Background()); !errors.Is(err, ErrChanged) {
		t.Fatalf("Remove = %v, want ErrChanged", err)
	}
	if _, err := f.ours.Lookup(context.Background(), "dangling"); err != nil {
		t.Fatalf("the new reservation was damaged: %v", err)
	}
}

func TestRemoveUnreferencedRecord(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id := f.recs["unlisted"].UUID
	u := byName(f.scan(t).Findings)["unreferenced-record pool/csi.volume."+id]
	if err := u.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ours.Get(ctx, id); !errors.Is(err, journal.ErrNotFound) {
		t.Fatalf("record still there: %v", err)
	}
}

func TestRemoveUnreferencedRecordRechecks(t *testing.T) {
	ctx := context.Background()
	t.Run("listed since", func(t *testing.T) {
		f := newFixture(t)
		id := f.recs["unlisted"].UUID
		u := byName(f.scan(t).Findings)["unreferenced-record pool/csi.volume."+id]
		f.reserve(t, f.ours, "unlisted") // adopts the UUID object, writes the entry
		if err := u.Remove(ctx); !errors.Is(err, ErrChanged) {
			t.Fatalf("Remove = %v, want ErrChanged", err)
		}
		if _, err := f.ours.Lookup(ctx, "unlisted"); err != nil {
			t.Fatalf("the adopted reservation was damaged: %v", err)
		}
	})
	t.Run("written since", func(t *testing.T) {
		f := newFixture(t)
		id := f.recs["unlisted"].UUID
		u := byName(f.scan(t).Findings)["unreferenced-record pool/csi.volume."+id]
		if err := f.ours.SetImageID(ctx, id, "1234"); err != nil {
			t.Fatal(err)
		}
		if err := u.Remove(ctx); !errors.Is(err, ErrChanged) {
			t.Fatalf("Remove = %v, want ErrChanged", err)
		}
	})
}

func TestOrphanRecord(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	s := f.scan(t)
	r := s.Records[0]
	released := 0
	o := s.OrphanRecord(MissingObject, r, "image gone", func(context.Context) error { released++; return nil })
	if o.Step != StepRecords || o.Name != "pool/csi.volumes.ours[healthy]" || !o.Since.Equal(t0) || !o.Ours {
		t.Fatalf("finding %+v", o)
	}
	if err := o.Remove(ctx); err != nil || released != 1 {
		t.Fatalf("Remove = %v after %d releases", err, released)
	}
	if _, err := f.ours.Lookup(ctx, "healthy"); !errors.Is(err, journal.ErrNotFound) {
		t.Fatalf("record still there: %v", err)
	}
	if inc := s.OrphanRecord(Incomplete, r, "", nil); inc.Step != StepImages {
		t.Fatalf("an incomplete record removes its object: step %d, want StepImages", inc.Step)
	}
}

func TestOrphanRecordRechecks(t *testing.T) {
	ctx := context.Background()
	t.Run("completed since", func(t *testing.T) {
		f := newFixture(t)
		s := f.scan(t)
		o := s.OrphanRecord(MissingObject, s.Records[0], "", func(context.Context) error {
			t.Fatal("release must not run on a changed record")
			return nil
		})
		if err := f.ours.SetImageID(ctx, s.Records[0].UUID, "42"); err != nil {
			t.Fatal(err)
		}
		if err := o.Remove(ctx); !errors.Is(err, ErrChanged) {
			t.Fatalf("Remove = %v, want ErrChanged", err)
		}
	})
	t.Run("object back", func(t *testing.T) {
		f := newFixture(t)
		s := f.scan(t)
		o := s.OrphanRecord(MissingObject, s.Records[0], "", func(context.Context) error { return ErrChanged })
		if err := o.Remove(ctx); !errors.Is(err, ErrChanged) {
			t.Fatalf("Remove = %v, want ErrChanged", err)
		}
		if _, err := f.ours.Lookup(ctx, "healthy"); err != nil {
			t.Fatalf("the record must stay when its object is back: %v", err)
		}
	})
}
