package controller

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
)

// Snapshot records come in two kinds. Ours carry, from the reservation on,
// the source volume's CSI ID (attrSourceVolumeID) and, once the snapshot
// exists, its creation time, restore size and the subvolume path. ceph-csi's
// carry only csi.snapname, csi.imagename (the subvolume snapshot's name) and
// csi.source (the snapshotted subvolume's name); some releases add the
// creator under an empty key. For those, everything else is read from Ceph:
// the creation time from the subvolume snapshot's info, the size from the
// source subvolume's quota (its used bytes in the snapshot when the
// subvolume has no quota or is gone), and the source volume's ID from the
// subvolume name, whose last 36 characters are the volume's journal UUID
// in ceph-csi's naming as in ours. ceph-csi's records are never written to
// on read.

// errSnapshotNotReady means a snapshot record whose snapshot is not taken
// yet: our unfinished reservation, or ceph-csi's record without its
// subvolume snapshot.
var errSnapshotNotReady = errors.New("snapshot is not created yet")

// snapView is a snapshot as the driver reports and uses it.
type snapView struct {
	rec       *journal.Record
	sourceID  string
	size      int64
	createdAt time.Time
	// path is the snapshotted subvolume's path ("" when unknown).
	path string
}

// foreignSnapshot reports whether rec was written by ceph-csi (ours always
// hold the source volume's ID, written with the reservation).
func foreignSnapshot(rec *journal.Record) bool {
	return rec.Attributes[attrSourceVolumeID] == ""
}

// viewSnapshot describes the snapshot of rec: errSnapshotNotReady when it
// is not taken yet.
func viewSnapshot(ctx context.Context, sc *scope, rec *journal.Record) (*snapView, error) {
	if foreignSnapshot(rec) {
		return viewForeignSnapshot(ctx, sc, rec)
	}
	created := rec.Attributes[attrCreatedAt]
	if created == "" {
		return nil, errSnapshotNotReady
	}
	at, err := time.Parse(time.RFC3339Nano, created)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: bad creation time in the journal: %w", rec.UUID, err)
	}
	size, _ := strconv.ParseInt(rec.Attributes[attrSize], 10, 64)
	return &snapView{rec: rec, sourceID: rec.Attributes[attrSourceVolumeID], size: size, createdAt: at,
		path: rec.Attributes[attrSubvolumePath]}, nil
}

// viewForeignSnapshot reads what ceph-csi's record lacks from Ceph.
func viewForeignSnapshot(ctx context.Context, sc *scope, rec *journal.Record) (*snapView, error) {
	if rec.Source == "" || rec.ImageName == "" {
		return nil, errSnapshotNotReady
	}
	info, err := sc.be.SnapshotInfo(ctx, sc.snapshot(rec.Source, rec.ImageName))
	if errors.Is(err, backend.ErrNotFound) {
		return nil, errSnapshotNotReady
	}
	if err != nil {
		return nil, err
	}
	v := &snapView{rec: rec, size: info.Size, createdAt: info.CreatedAt}
	if id, err := sc.encodeID(nameUUID(rec.Source)); err == nil {
		v.sourceID = id
	}
	sv, err := sc.be.SubvolumeInfo(ctx, sc.subvolume(rec.Source))
	switch {
	case errors.Is(err, backend.ErrNotFound):
	case err != nil:
		return nil, err
	case sv.State == backend.StateComplete:
		if sv.Quota > 0 {
			v.size = sv.Quota
		}
		v.path = sv.Path
	}
	return v, nil
}

// nameUUID returns the journal UUID that ends a subvolume or snapshot
// name ("" if the name is too short to hold one).
func nameUUID(name string) string {
	const uuidLen = 36
	if len(name) < uuidLen {
		return ""
	}
	return name[len(name)-uuidLen:]
}

// csiSnapshot builds the CSI snapshot of a view.
func (v *snapView) csiSnapshot(sc *scope) (*csi.Snapshot, error) {
	id, err := sc.encodeID(v.rec.UUID)
	if err != nil {
		return nil, fmt.Errorf("encode snapshot ID: %w", err)
	}
	return &csi.Snapshot{
		SnapshotId:      id,
		SourceVolumeId:  v.sourceID,
		SizeBytes:       v.size,
		CreationTime:    timestamppb.New(v.createdAt),
		ReadyToUse:      true,
		GroupSnapshotId: v.rec.Attributes[attrGroupSnapshotID],
	}, nil
}
