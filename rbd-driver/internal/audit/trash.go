package audit

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/audit"
)

// checkTrash reports images of ours in the RBD trash that still hold
// snapshots of ours no record owns. Their purge can never finish. This is
// what a rollback to ceph-csi leaves: ceph-csi cannot read this driver's
// snapshots (RBD snapshots of the volume image), so its DeleteSnapshot
// removes only their records, and its DeleteVolume moves the volume's
// image, snapshots and all, to the trash. Removing the snapshots lets the
// mgr purge the image.
func (s *scan) checkTrash(ctx context.Context) error {
	entries, err := s.sess.TrashList(ctx, s.pool)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !s.ourImageName(e.Name) {
			continue
		}
		snaps, err := s.sess.TrashSnapshots(ctx, s.pool, e.ID)
		if err != nil {
			continue // purged since the listing, or not readable: not ours to judge
		}
		if f := s.trashedWithSnapshots(e, snaps); f != nil {
			s.findings = append(s.findings, f)
		}
	}
	return nil
}

// trashedWithSnapshots reports a trashed image whose user snapshots keep it
// from being purged, when none of them is recorded.
func (s *scan) trashedWithSnapshots(e backend.TrashEntry, snaps []backend.Snapshot) *audit.Finding {
	var ours, foreign []string
	var since time.Time
	for _, snap := range snaps {
		recorded, ok := s.snapshotOwner(snap.Name)
		switch {
		case !ok:
			foreign = append(foreign, snap.Name)
		case recorded:
			return nil // a record still owns one: not an orphan
		default:
			ours = append(ours, snap.Name)
		}
		if snap.Created.After(since) {
			since = snap.Created
		}
	}
	if len(ours) == 0 {
		return nil
	}
	f := &audit.Finding{
		Kind: audit.Unrecorded, What: "trashed image", Name: fmt.Sprintf("%s/%s (trash ID %s)", where(s.pool), e.Name, e.ID),
		Detail: "in the RBD trash with snapshots no record owns (" + strings.Join(ours, ", ") +
			"), so its purge never finishes: left by a delete that did not know them (ceph-csi after a rollback)",
		Since: since, Ours: true, Step: audit.StepImages,
	}
	if len(foreign) > 0 {
		f.InUse = "snapshots not made by the driver: " + strings.Join(foreign, ", ")
	}
	f.Remove = func(ctx context.Context) error { return s.purgeTrashed(ctx, e, ours) }
	return f
}

// purgeTrashed re-checks that no record owns the snapshots, removes them
// and has the image purged.
func (s *scan) purgeTrashed(ctx context.Context, e backend.TrashEntry, snaps []string) error {
	for _, name := range snaps {
		recorded, err := s.snapshotRecordedNow(ctx, name)
		if err != nil {
			return err
		}
		if recorded {
			return fmt.Errorf("%w: a record owns %s now", audit.ErrChanged, name)
		}
	}
	for _, name := range snaps {
		if err := s.sess.RemoveTrashSnapshot(ctx, s.pool, e.ID, name); err != nil {
			return err
		}
	}
	_, err := s.sess.PurgeTrash(ctx, s.pool, e.ID)
	return err
}
