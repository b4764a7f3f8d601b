package audit

import (
	"context"
	"errors"
	"fmt"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/audit"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// stuckGroup reports a group snapshot whose creation stopped before every
// member was made and was neither retried nor deleted (a
// VolumeGroupSnapshot deleted before it got its ID): it holds its volumes
// in its RBD group (whose purge then fails) and its group snapshot. The
// removal undoes it as DeleteVolumeGroupSnapshot would.
func (s *scan) stuckGroup(g *groupScan, rec *journal.GroupRecord) *audit.Finding {
	f := &audit.Finding{Kind: audit.Incomplete, What: "group snapshot record",
		Name: where(g.ref) + "/" + g.j.UUIDObject(rec.UUID), Since: rec.CreationTime, Ours: true,
		Detail: fmt.Sprintf("creation of %q stopped before all %d member snapshots were made", rec.RequestName,
			len(rec.Members)),
		Step: audit.StepRecords}
	f.Remove = func(ctx context.Context) error { return s.removeStuckGroup(ctx, g, rec.UUID) }
	return f
}

func (s *scan) removeStuckGroup(ctx context.Context, g *groupScan, id string) error {
	rec, err := g.j.Get(ctx, id)
	if errors.Is(err, journal.ErrNotFound) {
		return fmt.Errorf("%w: the group snapshot is gone", audit.ErrChanged)
	}
	if err != nil {
		return err
	}
	members, err := s.memberJournal(ctx)
	if err != nil {
		return err
	}
	if done, err := membersDone(ctx, members, rec); err != nil || done {
		return changedUnlessErr(err)
	}
	if err := s.sess.RemoveGroup(ctx, backend.GroupRef{PoolRef: g.ref, Name: rec.GroupName}); err != nil {
		return err
	}
	for _, snapID := range sortedValues(rec.Members) {
		if err := s.removeMember(ctx, members, snapID); err != nil {
			return err
		}
	}
	return g.j.Undo(ctx, rec)
}

// memberJournal is the snapshot journal of the members: directory in the
// journal pool, records in the pool.
func (s *scan) memberJournal(ctx context.Context) (*journal.Journal, error) {
	objects, err := s.sess.ObjectStore(ctx, s.pool)
	if err != nil {
		return nil, err
	}
	dir, err := s.sess.ObjectStore(ctx, backend.PoolRef{Pool: s.cfg.JournalPool, Namespace: s.cfg.Namespace})
	if err != nil {
		return nil, err
	}
	return journal.New(dir, journal.Options{Kind: journal.Snapshots, Instance: s.cfg.Instance, UUIDStore: objects}), nil
}

// membersDone re-reads the members: all complete means a retry finished it.
func membersDone(ctx context.Context, j *journal.Journal, rec *journal.GroupRecord) (bool, error) {
	for _, snapID := range rec.Members {
		vid, err := volid.Decode(snapID)
		if err != nil {
			return false, nil
		}
		m, err := j.Get(ctx, vid.UUID)
		if errors.Is(err, journal.ErrNotFound) || (err == nil && m.ImageID == "") {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
	return true, nil
}

// removeMember removes a member's csi-snap image (with its snapshot, if it
// got one) and its record.
func (s *scan) removeMember(ctx context.Context, j *journal.Journal, snapID string) error {
	vid, err := volid.Decode(snapID)
	if err != nil {
		return nil
	}
	rec, err := j.Get(ctx, vid.UUID)
	if errors.Is(err, journal.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	img := backend.ImageRef{PoolRef: s.pool, Name: rec.ImageName}
	if err := s.sess.RemoveSnapshot(ctx, backend.SnapRef{Image: img, Snap: rec.ImageName}); err != nil {
		return err
	}
	id, err := s.sess.ImageID(ctx, img)
	switch {
	case err == nil:
		if err := s.discard(ctx, img, id); err != nil {
			return err
		}
	case !errors.Is(err, backend.ErrNotFound):
		return err
	}
	return j.Undo(ctx, rec)
}
