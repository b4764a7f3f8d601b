package audit

import (
	"context"
	"errors"
	"fmt"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/audit"
)

// checkVolumeRecords reports the volume records whose image is missing
// (never created, deleted from outside, or trashed by a delete that did not
// finish) or that were never completed although their image exists.
func (s *scan) checkVolumeRecords(ctx context.Context) error {
	for _, r := range s.vols.Records {
		f, err := s.checkVolumeRecord(ctx, r)
		if err != nil {
			return err
		}
		if f != nil {
			s.findings = append(s.findings, f)
		}
	}
	return nil
}

func (s *scan) checkVolumeRecord(ctx context.Context, r audit.Record) (*audit.Finding, error) {
	ref := backend.ImageRef{PoolRef: s.pool, Name: r.ImageName}
	if r.ImageID != "" {
		_, err := s.sess.ImageName(ctx, s.pool, r.ImageID)
		if !errors.Is(err, backend.ErrNotFound) {
			return nil, err // healthy, or an error
		}
		detail := fmt.Sprintf("image %s (ID %s) does not exist: deleted, or in the RBD trash", r.ImageName, r.ImageID)
		return s.vols.OrphanRecord(audit.MissingObject, r, detail, func(ctx context.Context) error {
			return stillMissing(s.sess.ImageName(ctx, s.pool, r.ImageID))
		}), nil
	}
	id, err := s.sess.ImageID(ctx, ref)
	if errors.Is(err, backend.ErrNotFound) {
		detail := fmt.Sprintf("image %s was never created (half-finished reservation)", r.ImageName)
		return s.vols.OrphanRecord(audit.MissingObject, r, detail, func(ctx context.Context) error {
			return stillMissing(s.sess.ImageID(ctx, ref))
		}), nil
	}
	if err != nil {
		return nil, err
	}
	return s.incompleteVolume(ctx, r, ref, id)
}

// incompleteVolume reports a record without image ID whose image exists:
// a CreateVolume that stopped before SetImageID, whose volume the CO never
// got. Its removal discards the image, then undoes the record.
func (s *scan) incompleteVolume(ctx context.Context, r audit.Record, ref backend.ImageRef, id string) (*audit.Finding, error) {
	st, err := s.sess.Stat(ctx, ref)
	if errors.Is(err, backend.ErrNotFound) {
		return nil, nil // removed meanwhile
	}
	if err != nil {
		return nil, err
	}
	since, err := s.sess.ImageSince(ctx, ref)
	if err != nil && !errors.Is(err, backend.ErrNotFound) {
		return nil, err
	}
	if since.After(r.Since) {
		r.Since = since
	}
	detail := fmt.Sprintf("image %s exists but the record never got its image ID (creation stopped halfway)", r.ImageName)
	f := s.vols.OrphanRecord(audit.Incomplete, r, detail, func(ctx context.Context) error {
		return s.discard(ctx, ref, id)
	})
	f.InUse = inUse(st, snapshotNames(st))
	return f, nil
}

func snapshotNames(st *backend.ImageStatus) []string {
	names := make([]string, 0, len(st.Snapshots))
	for _, sn := range st.Snapshots {
		names = append(names, sn.Name)
	}
	return names
}

// stillMissing turns the result of a re-check lookup into the release's
// verdict: nil when the object is still missing, ErrChanged when it exists.
func stillMissing[T any](_ T, err error) error {
	switch {
	case errors.Is(err, backend.ErrNotFound):
		return nil
	case err != nil:
		return err
	}
	return fmt.Errorf("%w: the object exists now", audit.ErrChanged)
}

// checkSnapshotRecords reports the snapshot records whose image or RBD
// snapshot is missing, or that were never completed although their
// snapshot exists. Records without the parent image ID (not written by
// this driver) cannot be checked and are left alone.
func (s *scan) checkSnapshotRecords(ctx context.Context) error {
	for _, r := range s.snaps.Records {
		pid := r.Attributes[attrParentImageID]
		if pid == "" {
			continue
		}
		f, err := s.checkSnapshotRecord(ctx, r, pid)
		if err != nil {
			return err
		}
		if f != nil {
			s.findings = append(s.findings, f)
		}
	}
	return nil
}

func (s *scan) checkSnapshotRecord(ctx context.Context, r audit.Record, pid string) (*audit.Finding, error) {
	snap, err := s.findSnapshot(ctx, pid, r.ImageName)
	switch {
	case errors.Is(err, backend.ErrNotFound):
		detail := fmt.Sprintf("snapshot %s on the image with ID %s does not exist", r.ImageName, pid)
		return s.snaps.OrphanRecord(audit.MissingObject, r, detail, func(ctx context.Context) error {
			_, err := s.findSnapshot(ctx, pid, r.ImageName)
			return stillMissing(0, err)
		}), nil
	case err != nil:
		return nil, err
	case r.ImageID != "":
		return nil, nil // healthy
	}
	if snap.Created.After(r.Since) {
		r.Since = snap.Created
	}
	detail := fmt.Sprintf("snapshot %s exists but its record was never completed", r.ImageName)
	return s.snaps.OrphanRecord(audit.Incomplete, r, detail, func(ctx context.Context) error {
		name, err := s.sess.ImageName(ctx, s.pool, pid)
		if errors.Is(err, backend.ErrNotFound) {
			return nil // the image, and its snapshot, are gone
		}
		if err != nil {
			return err
		}
		return s.sess.RemoveSnapshot(ctx, backend.SnapRef{Image: backend.ImageRef{PoolRef: s.pool, Name: name}, Snap: r.ImageName})
	}), nil
}

// findSnapshot finds a snapshot by its image's ID and its name. Missing
// image or snapshot: backend.ErrNotFound.
func (s *scan) findSnapshot(ctx context.Context, imageID, snap string) (*backend.Snapshot, error) {
	name, err := s.sess.ImageName(ctx, s.pool, imageID)
	if err != nil {
		return nil, err
	}
	return s.sess.SnapshotInfo(ctx, backend.SnapRef{Image: backend.ImageRef{PoolRef: s.pool, Name: name}, Snap: snap})
}
