package audit

// Volume group snapshots (internal/controller groupcreate.go): a record in
// the group journal (csi.groups.<instance>, csi.volume.group.<uuid>, in
// the journal pool) whose members are ordinary snapshot records, and, while
// a creation is at work, the RBD group csi-vol-group-<uuid> in the journal
// pool. The audit reports a directory entry without its UUID object, a UUID
// object without its entry, a record none of whose member snapshots is
// recorded any more, and an RBD group of ours without a record.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/audit"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// groupScan is the group journal as the audit read it.
type groupScan struct {
	j       *journal.Groups
	ref     backend.PoolRef
	entries map[string]string // request name -> UUID
	records map[string]*journal.GroupRecord
}

// checkGroups audits the group journal and the RBD groups of the journal
// pool.
func (s *scan) checkGroups(ctx context.Context) error {
	g, err := s.readGroups(ctx)
	if err != nil {
		return err
	}
	s.danglingGroupEntries(g)
	s.groupRecords(g)
	return s.rbdGroups(ctx, g)
}

func (s *scan) readGroups(ctx context.Context) (*groupScan, error) {
	ref := backend.PoolRef{Pool: s.cfg.JournalPool, Namespace: s.cfg.Namespace}
	store, err := s.sess.ObjectStore(ctx, ref)
	if err != nil {
		return nil, err
	}
	g := &groupScan{j: journal.NewGroups(store, journal.GroupOptions{Instance: s.cfg.Instance}), ref: ref,
		records: map[string]*journal.GroupRecord{}}
	if g.entries, err = groupEntries(ctx, g.j); err != nil {
		return nil, fmt.Errorf("group journal: %w", err)
	}
	ids, err := g.j.ListUUIDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("group journal: %w", err)
	}
	for _, id := range ids {
		rec, err := g.j.Get(ctx, id)
		if errors.Is(err, journal.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		g.records[id] = rec
	}
	return g, nil
}

// groupEntries reads the group directory: request name -> UUID.
func groupEntries(ctx context.Context, j *journal.Groups) (map[string]string, error) {
	list, err := j.List(ctx)
	out := make(map[string]string, len(list))
	for _, e := range list {
		out[e.RequestName] = e.UUID
	}
	return out, err
}

// danglingGroupEntries reports directory entries without their UUID object.
func (s *scan) danglingGroupEntries(g *groupScan) {
	for _, name := range sortedKeys(g.entries) {
		id := g.entries[name]
		if _, ok := g.records[id]; ok {
			continue
		}
		f := &audit.Finding{Kind: audit.DanglingEntry, What: "group snapshot directory entry",
			Name: fmt.Sprintf("%s[%s]", g.j.DirectoryObject(), name), Ours: true,
			Detail: "its record " + g.j.UUIDObject(id) + " does not exist", Step: audit.StepEntries}
		f.Remove = func(ctx context.Context) error {
			if _, err := g.j.Get(ctx, id); !errors.Is(err, journal.ErrNotFound) {
				return changedUnlessErr(err)
			}
			return g.j.Undo(ctx, &journal.GroupRecord{UUID: id, RequestName: name})
		}
		s.findings = append(s.findings, f)
	}
}

// groupRecords reports records no entry points at, and records none of
// whose member snapshots is recorded.
func (s *scan) groupRecords(g *groupScan) {
	referenced := map[string]bool{}
	for _, id := range g.entries {
		referenced[id] = true
	}
	for _, id := range sortedKeys(g.records) {
		rec := g.records[id]
		switch {
		case !referenced[id]:
			s.findings = append(s.findings, s.unreferencedGroup(g, rec))
		case len(rec.Members) > 0 && !slices.ContainsFunc(sortedValues(rec.Members), s.memberRecorded):
			s.findings = append(s.findings, s.emptyGroup(g, rec))
		case !s.membersComplete(rec):
			s.findings = append(s.findings, s.stuckGroup(g, rec))
		}
	}
}

// membersComplete reports whether every member of a group record has its
// complete snapshot record (csi.imageid set): the creation finished.
func (s *scan) membersComplete(rec *journal.GroupRecord) bool {
	for _, snapID := range rec.Members {
		vid, err := volid.Decode(snapID)
		if err != nil {
			return false
		}
		m, ok := s.snaps.Recorded(vid.UUID)
		if !ok || m.ImageID == "" {
			return false
		}
	}
	return len(rec.Members) > 0
}

// memberRecorded reports whether a member snapshot ID has its record.
func (s *scan) memberRecorded(snapID string) bool {
	vid, err := volid.Decode(snapID)
	if err != nil {
		return false
	}
	_, ok := s.snaps.Recorded(vid.UUID)
	return ok
}

func (s *scan) unreferencedGroup(g *groupScan, rec *journal.GroupRecord) *audit.Finding {
	f := &audit.Finding{Kind: audit.UnreferencedRecord, What: "group snapshot record",
		Name: where(g.ref) + "/" + g.j.UUIDObject(rec.UUID), Since: rec.CreationTime, Ours: true,
		Detail: fmt.Sprintf("no directory entry points at it (request %q)", rec.RequestName), Step: audit.StepRecords}
	f.Remove = func(ctx context.Context) error {
		entries, err := groupEntries(ctx, g.j)
		if err != nil {
			return err
		}
		if slices.Contains(sortedValues(entries), rec.UUID) {
			return fmt.Errorf("%w: a directory entry points at it now", audit.ErrChanged)
		}
		return g.j.Undo(ctx, &journal.GroupRecord{UUID: rec.UUID})
	}
	return f
}

func (s *scan) emptyGroup(g *groupScan, rec *journal.GroupRecord) *audit.Finding {
	f := &audit.Finding{Kind: audit.MissingObject, What: "group snapshot record",
		Name: where(g.ref) + "/" + g.j.UUIDObject(rec.UUID), Since: rec.CreationTime, Ours: true,
		Detail: fmt.Sprintf("none of its %d member snapshots is recorded (request %q)", len(rec.Members), rec.RequestName),
		Step:   audit.StepRecords}
	f.Remove = func(ctx context.Context) error {
		for _, snapID := range sortedValues(rec.Members) {
			vid, err := volid.Decode(snapID)
			if err != nil {
				continue
			}
			if ok, err := s.snaps.RecordedNow(ctx, vid.UUID); err != nil || ok {
				return changedUnlessErr(err)
			}
		}
		group := backend.GroupRef{PoolRef: g.ref, Name: rec.GroupName}
		if err := s.sess.RemoveGroup(ctx, group); err != nil {
			return err
		}
		return g.j.Undo(ctx, rec)
	}
	return f
}

// rbdGroups reports the RBD groups named csi-vol-group-<uuid> without a
// group record: a creation interrupted after the record was undone, or a
// group left by hand. Other groups are not ours and never looked at.
func (s *scan) rbdGroups(ctx context.Context, g *groupScan) error {
	names, err := s.sess.ListGroups(ctx, g.ref)
	if err != nil {
		return err
	}
	for _, name := range names {
		id, ok := strings.CutPrefix(name, journal.DefaultGroupNamePrefix)
		if !ok || g.records[id] != nil {
			continue
		}
		group := backend.GroupRef{PoolRef: g.ref, Name: name}
		f := &audit.Finding{Kind: audit.Unrecorded, What: "RBD group", Name: where(g.ref) + "/" + name, Ours: true,
			Detail: "no group snapshot record owns it", Step: audit.StepImages}
		f.Remove = func(ctx context.Context) error {
			if _, err := g.j.Get(ctx, id); !errors.Is(err, journal.ErrNotFound) {
				return changedUnlessErr(err)
			}
			return s.sess.RemoveGroup(ctx, group)
		}
		s.findings = append(s.findings, f)
	}
	return nil
}

// changedUnlessErr is ErrChanged for a re-check that found the object, or
// the re-check's error.
func changedUnlessErr(err error) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("%w: the object is recorded now", audit.ErrChanged)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func sortedValues(m map[string]string) []string {
	vals := make([]string, 0, len(m))
	for _, v := range m {
		vals = append(vals, v)
	}
	slices.Sort(vals)
	return vals
}
