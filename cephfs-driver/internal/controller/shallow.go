package controller

import (
	"context"
	"errors"
	"path"
	"sort"

	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/reftracker"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/logging"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// Shallow volumes (backingSnapshot=true) are read-only views of a snapshot:
// no subvolume, no copy. The node mounts the snapshotted subvolume's base
// directory and binds its .snap/<snapshot>/<uuid dir> onto the staging path.
//
// They are recorded as ceph-csi records them, so that each driver manages
// the other's: the volume's journal record holds the snapshot's CSI ID
// under csi.volume.backingsnapshotid, and the reference tracker
// rt-backingsnapshot-<snapshot ID> beside the journal (package reftracker)
// holds a reference of the snapshot itself and one per shallow volume (its
// reserved name, csi-vol-<uuid>). DeleteSnapshot refuses
// (FailedPrecondition) while a volume references the snapshot, so it
// outlives every shallow volume; the CO retries it after the volumes are
// gone. ceph-csi instead masks the snapshot's own reference and answers
// success; the snapshot then goes with its last shallow volume, and this
// driver's DeleteVolume does that too for a snapshot ceph-csi masked.
// Updates of a tracker hold the snapshot-ID lock in this process and
// assert the object's version against other processes.
//
// Volumes made before by this driver carry csi.backingsnapshotid and are
// listed in csi.cephfs.snaprefs.<snapshot uuid> (one omap key per volume
// UUID); both are still read and cleaned up.

const snapRefsPrefix = "csi.cephfs.snaprefs."

func snapRefsObject(snapUUID string) string { return snapRefsPrefix + snapUUID }

// trackerName is the reftracker object of a backing snapshot.
func trackerName(snapID string) string { return "rt-backingsnapshot-" + snapID }

// backingSnapshot returns the backing snapshot ID of a volume record ("" for
// a volume with a subvolume), and whether it is in this driver's old form.
func backingSnapshot(rec *journal.Record) (id string, v0 bool) {
	if id := rec.Attributes[journal.KeyBackingSnapshotID]; id != "" {
		return id, false
	}
	if id := rec.Attributes[journal.KeyBackingSnapshotIDV0]; id != "" {
		return id, true
	}
	return "", false
}

// provisionShallow records the new volume as a user of the snapshot and
// locates the snapshot directory for the node. Repeating it is harmless.
func (s *Server) provisionShallow(ctx context.Context, sc *scope, rec *journal.Record, src *source, size int64) (*result, error) {
	if src.path == "" {
		return nil, status.Errorf(codes.FailedPrecondition,
			"%s %q: the subvolume path of the snapshot is unknown (its subvolume was deleted?); it cannot back a shallow volume",
			src.ref.field(), src.ref.id)
	}
	if err := reftracker.Add(ctx, sc.store, trackerName(src.ref.id), src.ref.id, rec.ImageName); err != nil {
		return nil, err
	}
	return &result{
		size:        max(size, src.size),
		backingRoot: path.Dir(src.path),
		backingDir:  path.Join(".snap", src.snap.Snapshot, path.Base(src.path)),
	}, nil
}

// snapshotMasked reports whether ceph-csi deleted the snapshot while
// shallow volumes used it (its own reference is masked).
func snapshotMasked(ctx context.Context, sc *scope, snapID string) (bool, error) {
	t, err := reftracker.Read(ctx, sc.store, trackerName(snapID), []string{snapID})
	if errors.Is(err, journal.ErrObjectNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return t.Refs[snapID] == reftracker.Masked, nil
}

// snapshotUsers lists the shallow volumes using a snapshot: the tracker's
// references other than the snapshot's own, and old-form users.
func snapshotUsers(ctx context.Context, sc *scope, snapID, snapUUID string) ([]string, error) {
	var users []string
	t, err := reftracker.Read(ctx, sc.store, trackerName(snapID), nil)
	switch {
	case err == nil:
		for _, k := range t.Normals() {
			if k != snapID {
				users = append(users, k)
			}
		}
	case !errors.Is(err, journal.ErrObjectNotFound):
		return nil, err
	}
	refs, err := sc.store.ListOmap(ctx, snapRefsObject(snapUUID), "")
	if err != nil && !errors.Is(err, journal.ErrObjectNotFound) {
		return nil, err
	}
	for k := range refs {
		users = append(users, k)
	}
	sort.Strings(users)
	return users, nil
}

// dropSnapshotUserV0 removes an old-form shallow volume from its
// snapshot's users, deleting the object with the last one. Idempotent.
func dropSnapshotUserV0(ctx context.Context, store journal.ObjectStore, snapUUID, volUUID string) error {
	oid := snapRefsObject(snapUUID)
	if err := store.RemoveOmapKeys(ctx, oid, []string{volUUID}); err != nil {
		return err
	}
	refs, err := store.ListOmap(ctx, oid, "")
	if errors.Is(err, journal.ErrObjectNotFound) || (err == nil && len(refs) > 0) {
		return nil
	}
	if err != nil {
		return err
	}
	return store.Remove(ctx, oid)
}

// dropShallowVolume removes a shallow volume's reference on its backing
// snapshot. If ceph-csi masked the snapshot and this was its last
// reference, the snapshot and its record go first, then the tracker.
func (s *Server) dropShallowVolume(ctx context.Context, sc *scope, rec *journal.Record, snapID string, v0 bool) error {
	id, err := volid.Decode(snapID)
	if err != nil {
		logging.FromContext(ctx).Warn("shallow volume with a malformed backing snapshot ID", zap.Error(err))
		return nil
	}
	if v0 {
		return dropSnapshotUserV0(ctx, sc.store, id.UUID, rec.UUID)
	}
	oid := trackerName(snapID)
	if _, err := reftracker.Read(ctx, sc.store, oid, nil); errors.Is(err, journal.ErrObjectNotFound) {
		// Never added (a create that did not get that far), or gone with
		// an earlier attempt: nothing references, nothing to clean up.
		return nil
	}
	_, err = reftracker.Remove(ctx, sc.store, oid, map[string]reftracker.Type{rec.ImageName: reftracker.Normal},
		func() error { return s.removeSnapshot(ctx, sc, id.UUID) })
	return err
}

// removeSnapshot removes a snapshot and its record. Idempotent.
func (s *Server) removeSnapshot(ctx context.Context, sc *scope, snapUUID string) error {
	rec, err := sc.snaps.Get(ctx, snapUUID)
	if errors.Is(err, journal.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	logging.FromContext(ctx).Info("removing the masked backing snapshot with its last shallow volume",
		zap.String("snapshot", rec.ImageName))
	if err := sc.be.RemoveSnapshot(ctx, sc.snapshot(rec.Source, rec.ImageName)); err != nil {
		return err
	}
	return sc.snaps.Undo(ctx, rec)
}
