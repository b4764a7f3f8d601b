package controller

import (
	"context"
	"errors"
	"path"
	"sort"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/shared/journal"
)

// Shallow volumes (backingSnapshot=true) are read-only views of a snapshot:
// no subvolume, no copy. The node mounts the snapshotted subvolume's base
// directory and binds its .snap/<snapshot>/<uuid dir> onto the staging path.
//
// A snapshot records the shallow volumes that use it in a RADOS object of
// its own beside the journal, csi.cephfs.snaprefs.<snapshot uuid>, one omap
// key per volume UUID. DeleteSnapshot refuses (FailedPrecondition) while the
// object lists a volume, so the snapshot outlives every shallow volume on
// it; the CO retries the deletion after the volumes are gone. Updates to the
// object hold the snapshot-ID lock.

const snapRefsPrefix = "csi.cephfs.snaprefs."

func snapRefsObject(snapUUID string) string { return snapRefsPrefix + snapUUID }

// provisionShallow records the new volume as a user of the snapshot and
// locates the snapshot directory for the node.
func (s *Server) provisionShallow(ctx context.Context, sc *scope, rec *journal.Record, src *source, size int64) (*result, error) {
	if src.path == "" {
		return nil, status.Errorf(codes.FailedPrecondition,
			"%s %q: the snapshot does not record its subvolume path (taken by another driver?); it cannot back a shallow volume",
			src.ref.field(), src.ref.id)
	}
	if err := sc.store.SetOmap(ctx, snapRefsObject(src.snapUUID), map[string]string{rec.UUID: "1"}); err != nil {
		return nil, err
	}
	return &result{
		size:        max(size, src.size),
		backingRoot: path.Dir(src.path),
		backingDir:  path.Join(".snap", src.snap.Snapshot, path.Base(src.path)),
	}, nil
}

// snapshotUsers lists the UUIDs of the shallow volumes using a snapshot.
func snapshotUsers(ctx context.Context, store journal.ObjectStore, snapUUID string) ([]string, error) {
	refs, err := store.ListOmap(ctx, snapRefsObject(snapUUID), "")
	if errors.Is(err, journal.ErrObjectNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	users := make([]string, 0, len(refs))
	for k := range refs {
		users = append(users, k)
	}
	sort.Strings(users)
	return users, nil
}

// dropSnapshotUser removes a shallow volume from its snapshot's users,
// deleting the object with the last one. Idempotent.
func dropSnapshotUser(ctx context.Context, store journal.ObjectStore, snapUUID, volUUID string) error {
	oid := snapRefsObject(snapUUID)
	if err := store.RemoveOmapKeys(ctx, oid, []string{volUUID}); err != nil {
		return err
	}
	users, err := snapshotUsers(ctx, store, snapUUID)
	if err != nil || len(users) > 0 {
		return err
	}
	return store.Remove(ctx, oid)
}
