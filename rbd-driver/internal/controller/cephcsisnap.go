package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// ceph-csi's snapshot model, which this driver reads and manages next to
// its own: CreateSnapshot reserves csi.snap.<uuid> (csi.imagename =
// csi-snap-<uuid>, csi.source = the parent volume's image name), takes a
// snapshot of that name on the volume, clones the volume from it into an
// image of the same name, removes the volume's snapshot (clone v2 keeps it
// in the trash namespace while the clone lives), snapshots the clone under
// the same name again and records the clone's ID as csi.imageid. A
// snapshot is thus the image csi-snap-<uuid> with its snapshot
// csi-snap-<uuid>, a child of the volume.
//
// This driver's records carry csi.rbd.parentimageid from their reservation
// on; a snapshot record without it is ceph-csi's.

// isCephCSISnapshot reports whether a snapshot record was written by
// ceph-csi.
func isCephCSISnapshot(rec *journal.Record) bool {
	return rec.Attributes[attrParentImageID] == ""
}

// cephCSISnap is a ceph-csi snapshot found on the cluster.
type cephCSISnap struct {
	// ref is csi-snap-<uuid>@csi-snap-<uuid>.
	ref backend.SnapRef
	// image is the csi-snap image (its ID, size and creation time).
	image *backend.ImageStatus
	// info is the image's snapshot of the same name.
	info backend.Snapshot
}

// findCephCSISnap finds the csi-snap image of a ceph-csi snapshot record
// (by csi.imageid, or by name for records without one) and its snapshot,
// with one open of the image. Either missing: an error wrapping
// backend.ErrNotFound.
func findCephCSISnap(ctx context.Context, c *cluster, pool string, rec *journal.Record) (*cephCSISnap, error) {
	img := backend.ImageRef{PoolRef: c.pool(pool), Name: rec.ImageName}
	if rec.ImageID != "" {
		var err error
		if img.Name, err = c.sess.ImageName(ctx, img.PoolRef, rec.ImageID); err != nil {
			return nil, err
		}
	}
	st, err := c.sess.Stat(ctx, img)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(st.Snapshots, func(s backend.Snapshot) bool { return s.Name == rec.ImageName })
	if i < 0 {
		return nil, fmt.Errorf("snapshot %s of image %s: %w", rec.ImageName, img.Name, backend.ErrNotFound)
	}
	return &cephCSISnap{ref: backend.SnapRef{Image: img, Snap: rec.ImageName}, image: st, info: st.Snapshots[i]}, nil
}

// cephCSISourceID returns the CSI ID of the volume a ceph-csi snapshot was
// taken of. ceph-csi names a volume's image <prefix><uuid> and its ID is
// (cluster, pool ID, uuid); the snapshot lives in its volume's pool. The ID
// is derived from the image name, so it stays right after the volume was
// deleted. A parent name without a UUID (an image ceph-csi did not name)
// is returned as it is.
func cephCSISourceID(clusterID string, poolID int64, parentImage string) string {
	const uuidLen = 36
	if len(parentImage) < uuidLen {
		return parentImage
	}
	id, err := encodeID(clusterID, poolID, parentImage[len(parentImage)-uuidLen:])
	if err != nil {
		return parentImage
	}
	return id
}

// cephCSISnapshot renders a ceph-csi snapshot: its size and creation time
// are those of the csi-snap image, as ceph-csi answers them (its
// CreateSnapshot reads them from the image it cloned, whose own snapshot is
// taken a moment later). A csi-snap image or snapshot that does not exist
// (a creation ceph-csi did not finish): ErrNotFound.
func cephCSISnapshot(ctx context.Context, c *cluster, clusterID string, poolID int64, pool string, rec *journal.Record) (*csi.Snapshot, error) {
	snap, err := findCephCSISnap(ctx, c, pool, rec)
	if err != nil {
		return nil, err
	}
	id, err := encodeID(clusterID, poolID, rec.UUID)
	if err != nil {
		return nil, err
	}
	return &csi.Snapshot{
		SnapshotId:      id,
		SourceVolumeId:  cephCSISourceID(clusterID, poolID, rec.Source),
		SizeBytes:       int64(snap.image.Size),
		CreationTime:    timestamppb.New(snap.image.Created),
		ReadyToUse:      true,
		GroupSnapshotId: rec.Attributes[attrGroupSnapshotID],
	}, nil
}

// deleteCephCSISnapshot removes a ceph-csi snapshot: the csi-snap image's
// snapshot (clone v2 keeps it in the trash namespace while volumes restored
// from it live), the csi-snap image (trashed and purged; the purge waits
// for those volumes) and the record. Once the csi-snap image is gone, the
// volume it was cloned from has no child left and purges too. Each step is
// idempotent, so a retry after a failure finishes the job.
func (s *Server) deleteCephCSISnapshot(ctx context.Context, o *object) error {
	snap, err := findCephCSISnap(ctx, o.cluster, o.imagePool, o.rec)
	switch {
	case errors.Is(err, backend.ErrNotFound):
		// The snapshot or the image is gone; the image may be in the trash
		// where an earlier attempt left it.
		if err := s.trashCephCSIImage(ctx, o); err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		if err := o.sess.RemoveSnapshot(ctx, snap.ref); err != nil {
			return err
		}
		if err := s.trash(ctx, o.cluster, snap.ref.Image, snap.image.ID); err != nil {
			return err
		}
	}
	return o.undo(ctx)
}

// trashCephCSIImage trashes a csi-snap image that lost its snapshot (a
// failed earlier delete) or has its purge asked again when it is already in
// the trash.
func (s *Server) trashCephCSIImage(ctx context.Context, o *object) error {
	img := o.imageRef(o.rec.ImageName)
	id := o.rec.ImageID
	if id == "" {
		var err error
		id, err = o.sess.ImageID(ctx, img)
		if errors.Is(err, backend.ErrNotFound) {
			return nil // never created, or removed
		}
		if err != nil {
			return err
		}
	} else if name, err := o.sess.ImageName(ctx, img.PoolRef, id); err == nil {
		img.Name = name
	} else if !errors.Is(err, backend.ErrNotFound) {
		return err
	}
	return s.trash(ctx, o.cluster, img, id)
}

// cephCSIMadeFrom reports whether the image of a volume record without
// csi.source (ceph-csi records none) can be ceph-csi's restore or clone of
// src, as a CreateVolume retry with that source must find it. A restore is
// a clone of the snapshot's csi-snap-<uuid> image; a clone from a volume is
// a clone of its own <image>-temp, itself a clone of the source. ceph-csi
// flattens either depending on its clone depth limits (and the temp image
// when the source has many snapshots): a flattened image no longer names
// its source, and ceph-csi's own retry compares only the name and the size,
// so a flattened restore is taken as it is, a flattened clone when its
// <image>-temp is still there (ceph-csi keeps it until DeleteVolume) and,
// unless flattened too, a clone of the source. A parent that is another
// source is a mismatch.
func cephCSIMadeFrom(ctx context.Context, sess backend.Session, st *backend.ImageStatus, img backend.ImageRef,
	rec *journal.Record, src *csi.VolumeContentSource) (bool, error) {
	if id := src.GetSnapshot().GetSnapshotId(); id != "" {
		vid, err := volid.Decode(id)
		return err == nil && (!st.HasParent || strings.HasSuffix(st.ParentImage, vid.UUID)), nil
	}
	vid, err := volid.Decode(src.GetVolume().GetVolumeId())
	temp := img
	temp.Name = rec.ImageName + cephCSITempSuffix
	if err != nil || (st.HasParent && st.ParentImage != temp.Name) {
		return false, nil
	}
	tst, err := sess.Stat(ctx, temp)
	if errors.Is(err, backend.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return !tst.HasParent || strings.HasSuffix(tst.ParentImage, vid.UUID), nil
}

// isCephCSITemp reports whether temp, the image <image>-temp of a volume
// record, is the hidden parent ceph-csi made when it cloned the volume from
// another one: the record is ceph-csi's (no csi.source), its image has
// ceph-csi's name (<prefix><uuid> of the record) and temp carries no
// snapshot but the one ceph-csi takes of it to clone the volume (named
// after the volume's image; left by a ceph-csi crash before it removed
// it). Checked also when the volume's image no longer has temp as its
// parent (flattened), so that an unrelated image is never removed.
func isCephCSITemp(rec *journal.Record, temp *backend.ImageStatus) bool {
	if rec.Source != "" || !strings.HasSuffix(rec.ImageName, rec.UUID) {
		return false
	}
	for _, snap := range temp.Snapshots {
		if snap.Name != rec.ImageName {
			return false
		}
	}
	return true
}
