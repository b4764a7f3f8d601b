package audit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/audit"
)

// checkSubvolumes reports the unrecorded snapshots of our subvolumes, and
// the subvolumes themselves when nothing records them: no volume record
// and no recorded snapshot (a retained subvolume with a recorded snapshot
// is a deleted volume whose snapshots live on).
func (s *scan) checkSubvolumes(ctx context.Context) error {
	names, err := s.be.ListSubvolumes(ctx, s.cfg.FS, s.cfg.Group)
	if errors.Is(err, backend.ErrNotFound) {
		return nil // no group, no subvolume
	}
	if err != nil {
		return err
	}
	for _, name := range sorted(names) {
		if err := s.checkSubvolume(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

func (s *scan) checkSubvolume(ctx context.Context, name string) error {
	id, ok := s.cfg.VolumePrefixes.Match(name)
	if !ok {
		return nil // not ours: never looked at
	}
	ref := s.subvolume(name)
	info, snapNames, err := s.describe(ctx, ref)
	if errors.Is(err, backend.ErrNotFound) {
		return nil // removed since the listing
	}
	if errors.Is(err, backend.ErrHalfMade) {
		s.findings = append(s.findings, s.halfMadeSubvolume(ref))
		return nil
	}
	if err != nil {
		return err
	}
	snaps, err := s.checkSnapshots(ctx, name, snapNames)
	if err != nil {
		return err
	}
	if rec, ok := s.vols.Recorded(id); (ok && rec.ImageName == name) || snaps.recorded > 0 {
		return nil
	}
	s.findings = append(s.findings, s.unrecordedSubvolume(ref, id, info, snaps))
	return nil
}

// describe returns a subvolume's info and snapshots. A clone in progress
// answers neither (EAGAIN): it is described as cloning, without
// snapshots and without a creation time.
func (s *scan) describe(ctx context.Context, ref backend.SubvolumeRef) (*backend.SubvolumeInfo, []string, error) {
	info, err := s.be.SubvolumeInfo(ctx, ref)
	if errors.Is(err, backend.ErrBusy) {
		return &backend.SubvolumeInfo{State: backend.StateCloning}, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	snaps, err := s.be.ListSnapshots(ctx, ref)
	return info, snaps, err
}

// snapshotsOf is what checkSnapshots found on one subvolume.
type snapshotsOf struct {
	recorded int
	orphans  []*audit.Finding
	foreign  []string
	// newest is the creation time of the newest orphan snapshot.
	newest time.Time
}

// checkSnapshots classifies a subvolume's snapshots: recorded (a snapshot
// record, or a running clone's volume record, owns it), orphan (reported),
// or not made by the driver (never touched).
func (s *scan) checkSnapshots(ctx context.Context, subvolume string, names []string) (snapshotsOf, error) {
	var out snapshotsOf
	for _, name := range sorted(names) {
		recorded, ours := s.snapshotOwner(subvolume, name)
		switch {
		case !ours:
			out.foreign = append(out.foreign, name)
			continue
		case recorded:
			out.recorded++
			continue
		}
		ref := s.snapshot(subvolume, name)
		info, err := s.be.SnapshotInfo(ctx, ref)
		if errors.Is(err, backend.ErrNotFound) {
			continue // removed since the listing
		}
		if err != nil {
			return out, err
		}
		f := s.unrecordedSnapshot(ref, info)
		out.orphans = append(out.orphans, f)
		s.findings = append(s.findings, f)
		if info.CreatedAt.After(out.newest) {
			out.newest = info.CreatedAt
		}
	}
	return out, nil
}

// snapshotOwner tells whether a snapshot name is ours and, if so, whether
// a record owns it: csi-snap-<uuid> by its snapshot record (same subvolume
// and name), csi-clone-<uuid> by the volume record of the clone.
func (s *scan) snapshotOwner(subvolume, name string) (recorded, ours bool) {
	if id, ok := s.cfg.SnapshotPrefixes.Match(name); ok {
		rec, found := s.snaps.Recorded(id)
		return found && rec.ImageName == name && rec.Source == subvolume, true
	}
	if id, ok := (audit.Prefixes{audit.ClonePrefix}).Match(name); ok {
		_, found := s.vols.Recorded(id)
		return found, true
	}
	return false, false
}

// snapshotRecordedNow re-reads whether a record owns a snapshot name.
func (s *scan) snapshotRecordedNow(ctx context.Context, name string) (bool, error) {
	if id, ok := s.cfg.SnapshotPrefixes.Match(name); ok {
		return s.snaps.RecordedNow(ctx, id)
	}
	id, _ := (audit.Prefixes{audit.ClonePrefix}).Match(name)
	return s.vols.RecordedNow(ctx, id)
}

// unrecordedSnapshot reports a snapshot of ours that no record owns.
func (s *scan) unrecordedSnapshot(ref backend.SnapshotRef, info *backend.SnapshotInfo) *audit.Finding {
	f := &audit.Finding{
		Kind: audit.Unrecorded, What: "snapshot", Name: ref.String(), Detail: "no record owns it",
		Since: info.CreatedAt, Ours: true, Step: audit.StepSnapshots,
		Remove: func(ctx context.Context) error {
			recorded, err := s.snapshotRecordedNow(ctx, ref.Snapshot)
			if err != nil {
				return err
			}
			if recorded {
				return fmt.Errorf("%w: a record owns it now", audit.ErrChanged)
			}
			return s.be.RemoveSnapshot(ctx, ref)
		},
	}
	if info.HasPendingClones {
		f.InUse = "clones from it are in progress"
	}
	return f
}

// unrecordedSubvolume reports a subvolume that nothing records. It is
// removed after its orphan snapshots (a retained subvolume goes with its
// last snapshot); one holding snapshots not made by the driver is kept. A
// retained subvolume has no creation time: its newest snapshot's stands in.
func (s *scan) unrecordedSubvolume(ref backend.SubvolumeRef, id string, info *backend.SubvolumeInfo, snaps snapshotsOf) *audit.Finding {
	retained := info.State == backend.StateRetained
	f := &audit.Finding{
		Kind: audit.Unrecorded, What: "subvolume", Name: ref.String(), Detail: "no volume record owns it",
		Since: info.CreatedAt, Ours: true, Step: audit.StepImages, DependsOn: snaps.orphans,
	}
	switch info.State {
	case backend.StateRetained:
		f.What, f.Since = "retained subvolume", snaps.newest
		f.Detail = "deleted volume without recorded snapshots"
	case backend.StatePending, backend.StateCloning:
		f.Detail = "clone in progress that no volume record owns (age unknown)"
	}
	if len(snaps.foreign) > 0 {
		f.InUse = "snapshots not made by the driver: " + strings.Join(snaps.foreign, ", ")
	}
	f.Remove = func(ctx context.Context) error {
		recorded, err := s.vols.RecordedNow(ctx, id)
		if err != nil {
			return err
		}
		if recorded {
			return fmt.Errorf("%w: a volume record owns it now", audit.ErrChanged)
		}
		return s.removeSubvolume(ctx, ref, retained)
	}
	return f
}

// removeSubvolume removes a subvolume without snapshots the driver's way
// (cancelling a clone in progress). A retained one that is gone went with
// its last snapshot.
func (s *scan) removeSubvolume(ctx context.Context, ref backend.SubvolumeRef, retained bool) error {
	left, err := s.be.ListSnapshots(ctx, ref)
	switch {
	case errors.Is(err, backend.ErrBusy):
		// A clone in progress has no snapshots: cancelled below.
	case errors.Is(err, backend.ErrNotFound) && retained:
		return nil
	case errors.Is(err, backend.ErrNotFound):
		return fmt.Errorf("%w: %s is gone", audit.ErrChanged, ref)
	case err != nil:
		return err
	case len(left) > 0:
		return fmt.Errorf("subvolume %s still has snapshots %v", ref, left)
	}
	err = s.be.RemoveSubvolume(ctx, ref, false)
	if errors.Is(err, backend.ErrBusy) {
		if err := s.be.CancelClone(ctx, ref); err != nil {
			return err
		}
		err = s.be.RemoveSubvolume(ctx, ref, true)
	}
	return err
}

// halfMadeSubvolume reports a subvolume of ours that is listed but has no
// metadata: a create cut off inside the mgr (the mgr writes .meta last).
// Ceph gives it no age: only --grace=0s deletes it (a retried CreateVolume
// repairs it instead: the mgr's create completes it).
func (s *scan) halfMadeSubvolume(ref backend.SubvolumeRef) *audit.Finding {
	return &audit.Finding{
		Kind: audit.HalfMade, What: "subvolume", Name: ref.String(), Ours: true, Step: audit.StepImages,
		Detail: "listed without metadata (.meta): a create cut off inside the mgr (age unknown)",
		Remove: func(ctx context.Context) error {
			_, err := s.be.SubvolumeInfo(ctx, ref)
			switch {
			case errors.Is(err, backend.ErrNotFound):
				return nil
			case !errors.Is(err, backend.ErrHalfMade):
				return fmt.Errorf("%w: %s has its metadata now (%v)", audit.ErrChanged, ref, err)
			}
			return s.be.RemoveSubvolume(ctx, ref, false)
		},
	}
}
