package audit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/seed-6a310834/ceph-csi/shared/journal"
)

// ModTimer tells when an object was last written; cephconn.ObjectStore
// implements it. A missing object gives journal.ErrObjectNotFound.
type ModTimer interface {
	ModTime(ctx context.Context, oid string) (time.Time, error)
}

// JournalSource is one kind of journal (volumes or snapshots) in one place,
// as the audit sees it.
type JournalSource struct {
	// Kind and Instance select our journal (--instance-id).
	Kind     journal.Kind
	Instance string
	// Dir holds the directories of every instance; Objects holds the
	// per-UUID objects (RBD keeps them in the image pool when the
	// directory lives in a separate journal pool). Both must implement
	// ModTimer.
	Dir, Objects journal.ObjectStore
	// DirWhere and ObjectsWhere name the two places in the report, e.g.
	// "rbd" or "cephfs.meta/csi".
	DirWhere, ObjectsWhere string
	// EntryInScope selects the entries of our directory that belong to
	// the audited objects (a journal pool serves several image pools);
	// nil selects every entry.
	EntryInScope func(journal.Entry) bool
	// RecordInScope selects the UUID objects whose directory is among
	// Dir's (a record naming another journal pool is not ours to call
	// unreferenced); nil selects every one.
	RecordInScope func(*journal.Record) bool
}

// Record is a record of our journal whose directory entry and UUID object
// both exist.
type Record struct {
	*journal.Record
	// Since is when its UUID object was last written.
	Since time.Time
}

// JournalScan is what ScanJournal found: the healthy-looking records the
// driver checks against its images or subvolumes, the findings that need no
// such check (dangling entries, unreferenced records), and every UUID
// object of the place, whatever its instance.
type JournalScan struct {
	src      JournalSource
	j        *journal.Journal
	objTimes ModTimer
	// Records are our directory's in-scope records, sorted by UUID.
	Records []Record
	// Findings are the dangling entries and the unreferenced records.
	Findings []*Finding
	records  map[string]*journal.Record
}

// ScanJournal reads a journal: every directory of its kind, every UUID
// object and its record. Cost: a listing of both namespaces, one read per
// directory, two per UUID object (record and mtime).
func ScanJournal(ctx context.Context, src JournalSource) (*JournalScan, error) {
	dirTimes, ok1 := src.Dir.(ModTimer)
	objTimes, ok2 := src.Objects.(ModTimer)
	if !ok1 || !ok2 {
		return nil, errors.New("audit: the journal stores cannot tell object ages")
	}
	s := &JournalScan{src: src, objTimes: objTimes, records: map[string]*journal.Record{},
		j: journal.New(src.Dir, journal.Options{Kind: src.Kind, Instance: src.Instance, UUIDStore: src.Objects})}
	referenced, err := s.referenced(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.readRecords(ctx); err != nil {
		return nil, err
	}
	entries, err := s.j.List(ctx)
	if err != nil {
		return nil, err
	}
	var dirSince time.Time
	if len(entries) > 0 {
		if dirSince, err = dirTimes.ModTime(ctx, s.j.DirectoryObject()); err != nil && !errors.Is(err, journal.ErrObjectNotFound) {
			return nil, fmt.Errorf("audit: age of %s: %w", s.j.DirectoryObject(), err)
		}
	}
	for _, e := range entries {
		if e.UUID == "" || (src.EntryInScope != nil && !src.EntryInScope(e)) {
			continue
		}
		if err := s.classifyEntry(ctx, e, dirSince); err != nil {
			return nil, err
		}
	}
	if err := s.findUnreferenced(ctx, referenced); err != nil {
		return nil, err
	}
	slices.SortFunc(s.Records, func(a, b Record) int { return strings.Compare(a.UUID, b.UUID) })
	return s, nil
}

// referenced returns the UUIDs every directory of the kind (all instances)
// points at.
func (s *JournalScan) referenced(ctx context.Context) (map[string]bool, error) {
	instances, err := journal.Instances(ctx, s.src.Dir, s.src.Kind)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, inst := range instances {
		entries, err := journal.New(s.src.Dir, journal.Options{Kind: s.src.Kind, Instance: inst}).List(ctx)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			out[e.UUID] = true
		}
	}
	return out, nil
}

// readRecords reads the record of every UUID object.
func (s *JournalScan) readRecords(ctx context.Context) error {
	ids, err := s.j.ListUUIDs(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		rec, err := s.j.Get(ctx, id)
		if errors.Is(err, journal.ErrNotFound) {
			continue // removed since the listing
		}
		if err != nil {
			return err
		}
		s.records[id] = rec
	}
	return nil
}

// classifyEntry records a healthy-looking entry or reports a dangling one.
func (s *JournalScan) classifyEntry(ctx context.Context, e journal.Entry, dirSince time.Time) error {
	rec, ok := s.records[e.UUID]
	if !ok {
		s.Findings = append(s.Findings, s.danglingEntry(e, dirSince))
		return nil
	}
	if rec.RequestName != e.RequestName {
		return nil // corrupt (another request's UUID): for an operator, not for the audit
	}
	since, err := s.objTimes.ModTime(ctx, s.j.UUIDObject(e.UUID))
	if errors.Is(err, journal.ErrObjectNotFound) {
		return nil // undone since the listing
	}
	if err != nil {
		return fmt.Errorf("audit: age of %s: %w", s.j.UUIDObject(e.UUID), err)
	}
	r := *rec
	r.ImagePoolID = e.ImagePoolID
	s.Records = append(s.Records, Record{Record: &r, Since: since})
	return nil
}

// danglingEntry reports a directory entry without its UUID object. Its
// age is bounded by the directory's last write. Removing it is the
// journal's own repair: Lookup drops an entry whose object is missing.
func (s *JournalScan) danglingEntry(e journal.Entry, dirSince time.Time) *Finding {
	return &Finding{
		Kind: DanglingEntry, What: s.kindWord() + " directory entry", Step: StepEntries, Ours: true,
		Name:   fmt.Sprintf("%s/%s[%s]", s.src.DirWhere, s.j.DirectoryObject(), e.RequestName),
		Detail: fmt.Sprintf("UUID object %s does not exist", s.j.UUIDObject(e.UUID)),
		Since:  dirSince,
		Remove: func(ctx context.Context) error {
			rec, err := s.j.Lookup(ctx, e.RequestName)
			switch {
			case errors.Is(err, journal.ErrNotFound):
				return nil
			case err != nil:
				return err
			}
			return fmt.Errorf("%w: %s now has record %s", ErrChanged, e.RequestName, rec.UUID)
		},
	}
}

// findUnreferenced reports the in-scope UUID objects no directory points
// at.
func (s *JournalScan) findUnreferenced(ctx context.Context, referenced map[string]bool) error {
	for id, rec := range s.records {
		if referenced[id] || (s.src.RecordInScope != nil && !s.src.RecordInScope(rec)) {
			continue
		}
		since, err := s.objTimes.ModTime(ctx, s.j.UUIDObject(id))
		if errors.Is(err, journal.ErrObjectNotFound) {
			continue // removed since the listing
		}
		if err != nil {
			return fmt.Errorf("audit: age of %s: %w", s.j.UUIDObject(id), err)
		}
		s.Findings = append(s.Findings, s.unreferenced(rec, since))
	}
	return nil
}

// unreferenced reports a UUID object without a directory entry; its age is
// the object's last write. The removal re-checks that no directory points
// at it and that nobody wrote to it since the scan.
func (s *JournalScan) unreferenced(rec *journal.Record, since time.Time) *Finding {
	f := &Finding{
		Kind: UnreferencedRecord, What: s.kindWord() + " record", Step: StepRecords, Ours: true,
		Name:   s.src.ObjectsWhere + "/" + s.j.UUIDObject(rec.UUID),
		Detail: fmt.Sprintf("no directory entry for request %q (reserved, never listed)", rec.RequestName),
		Since:  since,
	}
	f.Remove = func(ctx context.Context) error {
		if err := s.unchangedSince(ctx, rec.UUID, since); err != nil {
			return err
		}
		if err := s.checkNoEntry(ctx, rec); err != nil {
			return err
		}
		return s.j.Undo(ctx, &journal.Record{UUID: rec.UUID})
	}
	return f
}

// unchangedSince fails with ErrChanged when the UUID object is gone or was
// written after since.
func (s *JournalScan) unchangedSince(ctx context.Context, id string, since time.Time) error {
	now, err := s.objTimes.ModTime(ctx, s.j.UUIDObject(id))
	switch {
	case errors.Is(err, journal.ErrObjectNotFound):
		return fmt.Errorf("%w: %s is gone", ErrChanged, s.j.UUIDObject(id))
	case err != nil:
		return err
	case now.After(since):
		return fmt.Errorf("%w: %s was written since the scan", ErrChanged, s.j.UUIDObject(id))
	}
	return nil
}

// checkNoEntry fails with ErrChanged when a directory of any instance now
// points at the record.
func (s *JournalScan) checkNoEntry(ctx context.Context, rec *journal.Record) error {
	instances, err := journal.Instances(ctx, s.src.Dir, s.src.Kind)
	if err != nil {
		return err
	}
	for _, inst := range instances {
		e, err := journal.New(s.src.Dir, journal.Options{Kind: s.src.Kind, Instance: inst}).Entry(ctx, rec.RequestName)
		switch {
		case errors.Is(err, journal.ErrNotFound):
		case err != nil:
			return err
		case e.UUID == rec.UUID:
			return fmt.Errorf("%w: instance %s now lists it", ErrChanged, inst)
		}
	}
	return nil
}

// Recorded reports whether a UUID object exists for id (any instance), as
// found by the scan.
func (s *JournalScan) Recorded(id string) (*journal.Record, bool) {
	rec, ok := s.records[id]
	return rec, ok
}

// RecordedNow reads whether a UUID object exists for id now, for the
// re-check before a deletion.
func (s *JournalScan) RecordedNow(ctx context.Context, id string) (bool, error) {
	_, err := s.j.Get(ctx, id)
	if errors.Is(err, journal.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// OrphanRecord returns the finding of a record of ours that is an orphan
// of kind MissingObject or Incomplete. Its Remove re-reads the record
// (unchanged, or ErrChanged), runs release, which re-checks the driver's
// side and removes what the record stands for (or returns ErrChanged), and
// then undoes the record as the driver's delete does: directory entry
// first, UUID object last.
func (s *JournalScan) OrphanRecord(kind Kind, r Record, detail string, release func(ctx context.Context) error) *Finding {
	step := StepRecords
	if kind == Incomplete {
		step = StepImages
	}
	return &Finding{
		Kind: kind, What: s.kindWord() + " record", Step: step, Ours: true, Since: r.Since,
		Name:   fmt.Sprintf("%s/%s[%s]", s.src.DirWhere, s.j.DirectoryObject(), r.RequestName),
		Detail: detail,
		Remove: func(ctx context.Context) error {
			cur, err := s.j.Get(ctx, r.UUID)
			switch {
			case errors.Is(err, journal.ErrNotFound):
				return fmt.Errorf("%w: the record is gone", ErrChanged)
			case err != nil:
				return err
			case cur.ImageID != r.ImageID || cur.RequestName != r.RequestName:
				return fmt.Errorf("%w: the record changed", ErrChanged)
			}
			if release != nil {
				if err := release(ctx); err != nil {
					return err
				}
			}
			return s.j.Undo(ctx, r.Record)
		},
	}
}

// kindWord is "volume" or "snapshot".
func (s *JournalScan) kindWord() string {
	if s.src.Kind == journal.Snapshots {
		return "snapshot"
	}
	return "volume"
}
