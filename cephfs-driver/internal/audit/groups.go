package audit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/seed-6a310834/ceph-csi/shared/audit"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// The group journal (volume group snapshots, journal.Groups) lives beside
// the volume and snapshot journals. Its healthy records are never
// reported: a complete group whose member snapshots are recorded. Its
// orphans:
//
//   - dangling-entry: a directory entry csi.volume.group.<name> whose
//     object is missing; removed as the journal's Lookup does;
//   - unreferenced-record: an object csi.volume.group.<uuid> no group
//     directory of any instance points at; removed;
//   - incomplete: a group with a member whose snapshot ID was never
//     recorded (a CreateVolumeGroupSnapshot that stopped and was never
//     retried, so the CO has none of its IDs); removed as the driver's
//     delete would: each member snapshot (found by ID, or by its member
//     request name) with its record, then the group;
//   - missing-object: a complete group none of whose member snapshots is
//     recorded any more; removed (its record only).

// groupScan is the audit of the group journal.
type groupScan struct {
	s      *scan
	groups *journal.Groups
	times  audit.ModTimer
	where  string
}

// checkGroups reports the group journal's orphans.
func (s *scan) checkGroups(ctx context.Context) error {
	times, ok := s.cfg.Store.(audit.ModTimer)
	if !ok {
		return errors.New("audit: the journal store cannot tell object ages")
	}
	g := &groupScan{s: s, times: times, where: s.cfg.StoreWhere,
		groups: journal.NewGroups(s.cfg.Store, journal.GroupOptions{Instance: s.cfg.Instance})}
	referenced, err := g.referenced(ctx)
	if err != nil {
		return err
	}
	ids, err := g.groups.ListUUIDs(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := g.checkRecord(ctx, id, referenced[id]); err != nil {
			return err
		}
	}
	return g.checkEntries(ctx)
}

// referenced returns the UUIDs the group directory of any instance lists.
func (g *groupScan) referenced(ctx context.Context) (map[string]bool, error) {
	names, err := g.s.cfg.Store.ListObjects(ctx, strings.TrimSuffix(g.groups.DirectoryObject(), g.s.cfg.Instance))
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	prefix := strings.TrimSuffix(g.groups.DirectoryObject(), g.s.cfg.Instance)
	for _, n := range names {
		entries, err := journal.NewGroups(g.s.cfg.Store, journal.GroupOptions{Instance: strings.TrimPrefix(n, prefix)}).List(ctx)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			out[e.UUID] = true
		}
	}
	return out, nil
}

// checkEntries reports our directory's entries without their object.
func (g *groupScan) checkEntries(ctx context.Context) error {
	entries, err := g.groups.List(ctx)
	if err != nil || len(entries) == 0 {
		return err
	}
	since, err := g.times.ModTime(ctx, g.groups.DirectoryObject())
	if err != nil && !errors.Is(err, journal.ErrObjectNotFound) {
		return err
	}
	for _, e := range entries {
		if _, err := g.groups.Get(ctx, e.UUID); e.UUID == "" || !errors.Is(err, journal.ErrNotFound) {
			continue
		}
		name := e.RequestName
		g.s.findings = append(g.s.findings, &audit.Finding{
			Kind: audit.DanglingEntry, What: "group snapshot directory entry", Step: audit.StepEntries, Ours: true,
			Name:   fmt.Sprintf("%s/%s[%s]", g.where, g.groups.DirectoryObject(), name),
			Detail: fmt.Sprintf("UUID object %s does not exist", g.groups.UUIDObject(e.UUID)), Since: since,
			Remove: func(ctx context.Context) error {
				rec, err := g.groups.Lookup(ctx, name)
				if errors.Is(err, journal.ErrNotFound) {
					return nil
				}
				if err != nil {
					return err
				}
				return fmt.Errorf("%w: %s now has group %s", audit.ErrChanged, name, rec.UUID)
			},
		})
	}
	return nil
}

// checkRecord classifies one group object.
func (g *groupScan) checkRecord(ctx context.Context, id string, listed bool) error {
	rec, err := g.groups.Get(ctx, id)
	if errors.Is(err, journal.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	since, err := g.times.ModTime(ctx, g.groups.UUIDObject(id))
	if errors.Is(err, journal.ErrObjectNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	switch {
	case !listed:
		g.add(audit.UnreferencedRecord, rec, since, fmt.Sprintf("no directory entry for request %q", rec.RequestName))
	case incompleteGroup(rec):
		g.add(audit.Incomplete, rec, since, "a member's snapshot ID was never recorded (creation stopped halfway)")
	case !g.anyMemberRecorded(rec):
		g.add(audit.MissingObject, rec, since, "none of its member snapshots exists")
	}
	return nil
}

func incompleteGroup(rec *journal.GroupRecord) bool {
	for _, snapID := range rec.Members {
		if snapID == "" {
			return true
		}
	}
	return false
}

// anyMemberRecorded reports whether a member snapshot's record exists.
func (g *groupScan) anyMemberRecorded(rec *journal.GroupRecord) bool {
	for _, snapID := range rec.Members {
		if id, err := volid.Decode(snapID); err == nil {
			if _, ok := g.s.snaps.Recorded(id.UUID); ok {
				return true
			}
		}
	}
	return false
}

// add appends the finding of group rec; its removal re-checks that the
// object was not written since the scan.
func (g *groupScan) add(kind audit.Kind, rec *journal.GroupRecord, since time.Time, detail string) {
	g.s.findings = append(g.s.findings, &audit.Finding{
		Kind: kind, What: "group snapshot record", Step: audit.StepRecords, Ours: true, Since: since,
		Name:   g.where + "/" + g.groups.UUIDObject(rec.UUID),
		Detail: fmt.Sprintf("group %q: %s", rec.RequestName, detail),
		Remove: func(ctx context.Context) error {
			now, err := g.times.ModTime(ctx, g.groups.UUIDObject(rec.UUID))
			switch {
			case errors.Is(err, journal.ErrObjectNotFound):
				return fmt.Errorf("%w: the record is gone", audit.ErrChanged)
			case err != nil:
				return err
			case now.After(since):
				return fmt.Errorf("%w: the record was written since the scan", audit.ErrChanged)
			}
			if err := g.removeMembers(ctx, rec); err != nil {
				return err
			}
			return g.groups.Undo(ctx, rec)
		},
	})
}

// removeMembers removes the member snapshots of an incomplete group (the
// CO never got their IDs) with their records, as the driver's delete does.
func (g *groupScan) removeMembers(ctx context.Context, rec *journal.GroupRecord) error {
	if !incompleteGroup(rec) {
		return nil
	}
	snaps := journal.New(g.s.cfg.Store, journal.Options{Kind: journal.Snapshots, Instance: g.s.cfg.Instance})
	for volID, snapID := range rec.Members {
		var snap *journal.Record
		var err error
		if id, derr := volid.Decode(snapID); derr == nil {
			snap, err = snaps.Get(ctx, id.UUID)
		} else {
			snap, err = snaps.Lookup(ctx, journal.GroupMemberRequestName(rec.GroupName, volID))
		}
		if errors.Is(err, journal.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if err := g.s.be.RemoveSnapshot(ctx, g.s.snapshot(snap.Source, snap.ImageName)); err != nil {
			return err
		}
		if err := snaps.Undo(ctx, snap); err != nil {
			return err
		}
	}
	return nil
}
