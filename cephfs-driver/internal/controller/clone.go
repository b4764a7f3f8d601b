package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/logging"
)

// rollbackTimeout bounds the clean-up after a failed request.
const rollbackTimeout = 30 * time.Second

// tmpSnapshotName is the temporary snapshot a clone from a volume is made
// from; it is derived from the clone's UUID so that a retry finds it.
func tmpSnapshotName(cloneUUID string) string { return "csi-clone-" + cloneUUID }

// cloneSnapshotName is the temporary snapshot of the source subvolume that
// the clone of a volume record is made from: tmpSnapshotName for ours;
// ceph-csi names it after the clone's subvolume (its records carry no
// csi.cephfs.size) and removes it on its own retry once the clone is
// complete, as a retry here does.
func cloneSnapshotName(rec *journal.Record) string {
	if ourVolume(rec) {
		return tmpSnapshotName(rec.UUID)
	}
	return rec.ImageName
}

// ourVolume reports whether a volume record was written by this driver
// (which records the size at reservation; ceph-csi does not).
func ourVolume(rec *journal.Record) bool {
	_, ours := rec.Attributes[attrSize]
	return ours
}

// provisionClone clones src into the record's subvolume: it starts the
// clone unless a previous attempt did (the journal record is the memory of
// that attempt), waits for it within the request's deadline, then sets the
// quota and drops a clone-from-volume's temporary snapshot.
func (s *Server) provisionClone(ctx context.Context, sc *scope, rec *journal.Record, r *createRequest, src *source, size int64) (*result, error) {
	target := sc.subvolume(rec.ImageName)
	if src.fromVolume {
		src.snap = sc.snapshot(src.subvolume, cloneSnapshotName(rec))
	}
	st, err := sc.be.CloneStatus(ctx, target)
	switch {
	case errors.Is(err, backend.ErrNotFound):
		if err := s.startClone(ctx, sc, src, target, r.params.Pool); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	default:
		logging.FromContext(ctx).Info("resuming clone", zap.Stringer("clone", target), zap.String("state", string(st.State)))
	}
	if st == nil || !st.Done() {
		if st, err = s.waitClone(ctx, sc, target); err != nil {
			return nil, err
		}
	}
	if st.State != backend.CloneComplete {
		return nil, fmt.Errorf("%w: %s from %s is %s: %s", errCloneFailed, target, src.snap, st.State, st.Failure)
	}
	if err := s.waitDetached(ctx, sc, src.snap); err != nil {
		return nil, err
	}
	return s.finishClone(ctx, sc, src, target, size, !ourVolume(rec))
}

// waitDetached waits until the source snapshot lists no pending clone.
// Pacific reports a clone complete a moment before it detaches the clone
// from its source snapshot; a clone removed in between is never detached,
// which leaves the snapshot undeletable and the mgr's cloner retrying the
// vanished clone for good. The answer therefore waits for the detach (go-ceph
// only tells whether any clone of the snapshot is pending, so a concurrent
// clone of the same snapshot is waited for too, within the same bound).
func (s *Server) waitDetached(ctx context.Context, sc *scope, snap backend.SnapshotRef) error {
	until := s.waitDeadline(ctx)
	interval := s.cfg.ClonePoll
	for {
		info, err := sc.be.SnapshotInfo(ctx, snap)
		if errors.Is(err, backend.ErrNotFound) {
			return nil // a temporary snapshot removed by an earlier attempt
		}
		if err != nil {
			return err
		}
		if !info.HasPendingClones {
			return nil
		}
		if s.now().Add(interval).After(until) {
			return fmt.Errorf("%w: %s still lists a pending clone; retry to resume waiting", errCloneInProgress, snap)
		}
		timer := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
		interval = min(interval*3/2, s.cfg.MaxClonePoll)
	}
}

func (s *Server) startClone(ctx context.Context, sc *scope, src *source, target backend.SubvolumeRef, pool string) error {
	if src.fromVolume {
		if err := sc.be.CreateSnapshot(ctx, src.snap); err != nil {
			return err
		}
	}
	logging.FromContext(ctx).Info("starting clone", zap.Stringer("snapshot", src.snap), zap.Stringer("clone", target))
	err := sc.be.CloneSnapshot(ctx, src.snap, target.Name, pool)
	if errors.Is(err, backend.ErrExists) {
		return nil
	}
	return err
}

// waitClone polls the clone until it is done or the wait ends: at the
// configured CloneWait, or a little before the request's deadline so that
// the answer (Aborted, retry to resume) reaches the caller.
func (s *Server) waitClone(ctx context.Context, sc *scope, ref backend.SubvolumeRef) (*backend.CloneStatus, error) {
	until := s.waitDeadline(ctx)
	interval := s.cfg.ClonePoll
	for {
		st, err := sc.be.CloneStatus(ctx, ref)
		if err != nil {
			return nil, err
		}
		if st.Done() {
			return st, nil
		}
		if s.now().Add(interval).After(until) {
			return nil, fmt.Errorf("%w: %s is %s; retry to resume waiting", errCloneInProgress, ref, st.State)
		}
		timer := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		case <-timer.C:
		}
		interval = min(interval*3/2, s.cfg.MaxClonePoll)
	}
}

func (s *Server) waitDeadline(ctx context.Context) time.Time {
	now := s.now()
	until := now.Add(s.cfg.CloneWait)
	if d, ok := ctx.Deadline(); ok {
		margin := min(max(d.Sub(now)/10, 100*time.Millisecond), 2*time.Second)
		if d.Add(-margin).Before(until) {
			until = d.Add(-margin)
		}
	}
	return until
}

// finishClone sets the clone's quota to size when the source's was smaller
// and removes a clone-from-volume's temporary snapshot. A failure to remove
// it fails the request when theirs is set (a clone of ceph-csi, whose
// record does not name the snapshot's subvolume for DeleteVolume): the
// retry removes it, as ceph-csi's does.
func (s *Server) finishClone(ctx context.Context, sc *scope, src *source, target backend.SubvolumeRef, size int64,
	theirs bool) (*result, error) {
	info, err := sc.be.SubvolumeInfo(ctx, target)
	if err != nil {
		return nil, err
	}
	quota := info.Quota
	if size > 0 && size != quota && (quota == 0 || size > quota) {
		if err := sc.be.ResizeSubvolume(ctx, target, size); err != nil {
			return nil, err
		}
		quota = size
	}
	if src.fromVolume {
		if err := sc.be.RemoveSnapshot(ctx, src.snap); err != nil {
			if theirs {
				return nil, err
			}
			logging.FromContext(ctx).Warn("temporary clone snapshot left behind; DeleteVolume retries",
				zap.Stringer("snapshot", src.snap), zap.Error(err))
		}
	}
	return &result{size: quota, path: info.Path}, nil
}
