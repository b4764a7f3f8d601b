package audit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/audit"
)

// listImages reads the status (ID, watchers, user snapshots) and the age
// of every image with one of our names. Others are never looked at.
func (s *scan) listImages(ctx context.Context) error {
	names, err := s.sess.ListImages(ctx, s.pool)
	if err != nil {
		return err
	}
	s.images = map[string]*image{}
	for _, name := range names {
		if !s.ourImageName(name) {
			continue
		}
		ref := backend.ImageRef{PoolRef: s.pool, Name: name}
		st, err := s.sess.Stat(ctx, ref)
		if errors.Is(err, backend.ErrNotFound) {
			if err := s.checkPartial(ctx, ref); err != nil {
				return err
			}
			continue // half-made, or removed since the listing
		}
		if err != nil {
			return err
		}
		if strings.HasPrefix(name, tombPrefix) && name != tombPrefix+st.ID {
			continue // not a tomb of ours: those are named after their own ID
		}
		since, err := s.sess.ImageSince(ctx, ref)
		if errors.Is(err, backend.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		s.images[name] = &image{ref: ref, st: st, since: since}
	}
	return nil
}

// ourImageName reports whether name is a volume name or a tomb name of
// ours (listImages checks that a tomb is named after its own ID).
func (s *scan) ourImageName(name string) bool {
	if _, ok := s.cfg.VolumePrefixes.Match(name); ok {
		return true
	}
	return strings.HasPrefix(name, tombPrefix) && len(name) > len(tombPrefix)
}

// checkImages reports the unrecorded snapshots of our images, and the
// images themselves when nothing records them: a volume image without a
// volume record that hosts no recorded snapshot, or a tomb that hosts no
// recorded snapshot.
func (s *scan) checkImages() {
	names := make([]string, 0, len(s.images))
	for n := range s.images {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		img := s.images[n]
		snaps := s.checkSnapshots(img)
		if snaps.recorded > 0 || s.volumeRecorded(img) {
			continue
		}
		if f := s.unrecordedImage(img, snaps); f != nil {
			s.findings = append(s.findings, f)
		}
	}
}

// volumeRecorded reports whether a volume record owns the image by name.
func (s *scan) volumeRecorded(img *image) bool {
	id, ok := s.cfg.VolumePrefixes.Match(img.ref.Name)
	if !ok {
		return false
	}
	rec, ok := s.vols.Recorded(id)
	return ok && (rec.ImageName == img.ref.Name || splitHalf(rec))
}

// snapshotsOf is what checkSnapshots found on one image.
type snapshotsOf struct {
	recorded int
	orphans  []*audit.Finding
	foreign  []string
}

// checkSnapshots classifies an image's user snapshots: recorded (a
// snapshot record, or a running clone's volume record, owns it), orphan
// (reported), or not made by the driver (never touched).
func (s *scan) checkSnapshots(img *image) snapshotsOf {
	var out snapshotsOf
	for _, snap := range img.st.Snapshots {
		owner, ok := s.snapshotOwner(snap.Name)
		switch {
		case !ok:
			out.foreign = append(out.foreign, snap.Name)
		case owner:
			out.recorded++
		default:
			f := s.unrecordedSnapshot(img, snap)
			out.orphans = append(out.orphans, f)
			s.findings = append(s.findings, f)
		}
	}
	return out
}

// snapshotOwner tells whether a snapshot name is ours (ok) and, if so,
// whether a record owns it: csi-snap-<uuid> by its snapshot record,
// csi-clone-<uuid> by the volume record of the clone in progress.
func (s *scan) snapshotOwner(name string) (recorded, ok bool) {
	if id, ok := s.cfg.SnapshotPrefixes.Match(name); ok {
		rec, found := s.snaps.Recorded(id)
		return found && (rec.ImageName == name || splitHalf(rec)), true
	}
	if id, ok := (audit.Prefixes{audit.ClonePrefix}).Match(name); ok {
		_, found := s.vols.Recorded(id)
		return found, true
	}
	return false, false
}

// recordedNow re-reads whether a record owns a snapshot name.
func (s *scan) snapshotRecordedNow(ctx context.Context, name string) (bool, error) {
	if id, ok := s.cfg.SnapshotPrefixes.Match(name); ok {
		return s.snaps.RecordedNow(ctx, id)
	}
	id, _ := (audit.Prefixes{audit.ClonePrefix}).Match(name)
	return s.vols.RecordedNow(ctx, id)
}

// unrecordedSnapshot reports a snapshot of ours that no record owns. The
// removal re-reads the journal and finds the image by ID (it may have
// become a tomb since).
func (s *scan) unrecordedSnapshot(img *image, snap backend.Snapshot) *audit.Finding {
	return &audit.Finding{
		Kind: audit.Unrecorded, What: "snapshot", Name: imageName(img.ref) + "@" + snap.Name,
		Detail: "no record owns it", Since: snap.Created, Ours: true, Step: audit.StepSnapshots,
		Remove: func(ctx context.Context) error {
			recorded, err := s.snapshotRecordedNow(ctx, snap.Name)
			if err != nil {
				return err
			}
			if recorded {
				return fmt.Errorf("%w: a record owns it now", audit.ErrChanged)
			}
			name, err := s.sess.ImageName(ctx, s.pool, img.st.ID)
			if errors.Is(err, backend.ErrNotFound) {
				return fmt.Errorf("%w: its image is gone", audit.ErrChanged)
			}
			if err != nil {
				return err
			}
			ref := backend.SnapRef{Image: backend.ImageRef{PoolRef: s.pool, Name: name}, Snap: snap.Name}
			return s.sess.RemoveSnapshot(ctx, ref)
		},
	}
}

// unrecordedImage reports a volume image or tomb that nothing records. It
// is deleted after its orphan snapshots; one with watchers or with
// snapshots not made by the driver is kept.
func (s *scan) unrecordedImage(img *image, snaps snapshotsOf) *audit.Finding {
	what, detail := "image", "no volume record owns it"
	if strings.HasPrefix(img.ref.Name, tombPrefix) {
		what, detail = "tomb", "deleted volume without recorded snapshots"
	}
	f := &audit.Finding{
		Kind: audit.Unrecorded, What: what, Name: imageName(img.ref), Detail: detail,
		Since: img.since, Ours: s.ours(img), Step: audit.StepImages, DependsOn: snaps.orphans,
		InUse: inUse(img.st, snaps.foreign),
	}
	f.Remove = func(ctx context.Context) error {
		if err := s.stillUnrecorded(ctx, img); err != nil {
			return err
		}
		return s.discard(ctx, img.ref, img.st.ID)
	}
	return f
}

// ours reports whether the image carries our name: a volume prefix, or
// exactly csi-tomb-<its own ID> (checked again as a safeguard).
func (s *scan) ours(img *image) bool {
	if _, ok := s.cfg.VolumePrefixes.Match(img.ref.Name); ok {
		return true
	}
	return img.ref.Name == tombPrefix+img.st.ID
}

// inUse says why an image must be kept: watchers, or snapshots the driver
// did not make.
func inUse(st *backend.ImageStatus, foreign []string) string {
	var why []string
	if len(st.Watchers) > 0 {
		why = append(why, "watchers "+strings.Join(st.Watchers, ", "))
	}
	if len(foreign) > 0 {
		why = append(why, "snapshots not made by the driver: "+strings.Join(foreign, ", "))
	}
	return strings.Join(why, "; ")
}

// stillUnrecorded re-checks an unrecorded image before its removal: same
// name and ID, still no volume record.
func (s *scan) stillUnrecorded(ctx context.Context, img *image) error {
	if id, ok := s.cfg.VolumePrefixes.Match(img.ref.Name); ok {
		recorded, err := s.vols.RecordedNow(ctx, id)
		if err != nil {
			return err
		}
		if recorded {
			return fmt.Errorf("%w: a volume record owns it now", audit.ErrChanged)
		}
	}
	name, err := s.sess.ImageName(ctx, s.pool, img.st.ID)
	switch {
	case errors.Is(err, backend.ErrNotFound):
		return fmt.Errorf("%w: it is gone", audit.ErrChanged)
	case err != nil:
		return err
	case name != img.ref.Name:
		return fmt.Errorf("%w: renamed to %s", audit.ErrChanged, name)
	}
	return nil
}

// discard removes an image the driver's way: refused while it has
// watchers or user snapshots, else moved to the RBD trash and purged by
// the mgr (synchronously when the mgr cannot take the task).
func (s *scan) discard(ctx context.Context, ref backend.ImageRef, id string) error {
	st, err := s.sess.Stat(ctx, ref)
	if errors.Is(err, backend.ErrNotFound) {
		return fmt.Errorf("%w: %s is gone", audit.ErrChanged, ref.Name)
	}
	if err != nil {
		return err
	}
	switch {
	case st.ID != id:
		return fmt.Errorf("%w: %s is another image now", audit.ErrChanged, ref.Name)
	case len(st.Watchers) > 0:
		return &backend.WatchersError{Image: ref.Name, Addrs: st.Watchers}
	case len(st.Snapshots) > 0:
		return fmt.Errorf("image %s: %w", ref.Name, backend.ErrHasSnapshots)
	}
	if err := s.sess.Trash(ctx, ref); err != nil && !errors.Is(err, backend.ErrNotFound) {
		return err
	}
	_, err = s.sess.PurgeTrash(ctx, s.pool, id)
	return err
}
