package controller

import (
	"context"
	"errors"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
)

// reserveMembers finds or reserves each member's snapshot record, in
// ceph-csi's snapshot model (no csi.rbd.parentimageid: the member is a
// csi-snap image of its own).
func (s *Server) reserveMembers(ctx context.Context, t *groupTake) error {
	groupID, err := t.groupID(ctx)
	if err != nil {
		return err
	}
	t.members = make([]*journal.Record, len(t.srcs))
	for i, o := range t.srcs {
		r := journal.Reservation{RequestName: memberName(t.p.name, o.idString), Source: o.rec.ImageName,
			ImagePoolID: journal.SamePool, Attributes: map[string]string{attrGroupSnapshotID: groupID}}
		if t.dirPool != t.pool {
			dirID, err := t.sess.PoolID(ctx, t.dirPool)
			if err != nil {
				return err
			}
			r.ImagePoolID = t.poolID
			r.Attributes[journal.KeyJournalPool] = journal.EncodePoolID(dirID)
		}
		rec, err := t.snapJ.Lookup(ctx, r.RequestName)
		if errors.Is(err, journal.ErrNotFound) {
			rec, err = t.snapJ.Reserve(ctx, r)
		}
		if err != nil {
			return err
		}
		want, _ := encodeID(t.p.clusterID, t.poolID, rec.UUID)
		if t.rec.Members[o.idString] != want {
			return status.Errorf(codes.Internal, "member snapshot %q of group snapshot %q has UUID %s, not the one recorded",
				r.RequestName, t.p.name, rec.UUID)
		}
		t.members[i] = rec
	}
	return nil
}

// groupID is the CSI ID of the group snapshot: its record's UUID in the
// group pool.
func (t *groupTake) groupID(ctx context.Context) (string, error) {
	dirID, err := t.sess.PoolID(ctx, t.groupPool)
	if err != nil {
		return "", err
	}
	return encodeID(t.p.clusterID, dirID, t.rec.UUID)
}

// takeGroup snapshots the group and makes each unfinished member's image.
func (s *Server) takeGroup(ctx context.Context, t *groupTake) error {
	if !slices.ContainsFunc(t.members, func(r *journal.Record) bool { return r.ImageID == "" }) {
		return nil
	}
	g := t.rbdGroup()
	snap := backend.GroupSnapRef{Group: g, Snap: g.Name}
	if err := t.sess.CreateGroup(ctx, g); err != nil {
		return err
	}
	for _, img := range t.srcImages() {
		if err := t.sess.AddGroupImage(ctx, g, img); err != nil {
			return err
		}
	}
	if err := t.checkGroupSnap(ctx, snap); err != nil {
		return err
	}
	if err := t.sess.CreateGroupSnapshot(ctx, snap); err != nil {
		return err
	}
	for i, rec := range t.members {
		if rec.ImageID != "" {
			continue
		}
		if err := s.makeMember(ctx, t, snap, t.srcs[i], rec); err != nil {
			return err
		}
	}
	return nil
}

// checkGroupSnap refuses to take the group snapshot again when some members
// were made from an earlier one that is gone (removed behind the driver's
// back): the members would not be of one point in time.
func (t *groupTake) checkGroupSnap(ctx context.Context, snap backend.GroupSnapRef) error {
	if !slices.ContainsFunc(t.members, func(r *journal.Record) bool { return r.ImageID != "" }) {
		return nil
	}
	names, err := t.sess.GroupSnapshots(ctx, snap.Group)
	if err != nil || slices.Contains(names, snap.Snap) {
		return err
	}
	return status.Errorf(codes.FailedPrecondition,
		"group snapshot %q: its RBD group snapshot %s is gone while members are missing; delete it and retry",
		t.p.name, snap.Snap)
}

// makeMember turns a member's group snapshot into the image csi-snap-<uuid>
// with its snapshot of the same name and completes the record. An image
// without that snapshot is an interrupted copy: it is trashed and copied
// again.
func (s *Server) makeMember(ctx context.Context, t *groupTake, snap backend.GroupSnapRef, src *object, rec *journal.Record) error {
	dst := src.imageRef(rec.ImageName)
	id, err := t.sess.ImageID(ctx, dst)
	switch {
	case errors.Is(err, backend.ErrNotFound):
		id, err = t.sess.ImageFromGroupSnapshot(ctx, snap, src.imageRef(src.rec.ImageName), dst.Name, backend.ImageOptions{})
		if errors.Is(err, backend.ErrExists) {
			return status.Errorf(codes.Aborted, "member image %s is being made by another request; retry", dst.Name)
		}
		if err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		if _, err := t.sess.SnapshotInfo(ctx, backend.SnapRef{Image: dst, Snap: dst.Name}); errors.Is(err, backend.ErrNotFound) {
			if err := s.trash(ctx, t.cluster, dst, id); err != nil {
				return err
			}
			return s.makeMember(ctx, t, snap, src, rec)
		} else if err != nil {
			return err
		}
		return s.finishMember(ctx, t, rec, id)
	}
	if _, err := t.sess.CreateSnapshot(ctx, backend.SnapRef{Image: dst, Snap: dst.Name}); err != nil &&
		!errors.Is(err, backend.ErrExists) {
		return err
	}
	return s.finishMember(ctx, t, rec, id)
}

func (s *Server) finishMember(ctx context.Context, t *groupTake, rec *journal.Record, id string) error {
	if err := t.snapJ.SetImageID(ctx, rec.UUID, id); err != nil {
		return err
	}
	rec.ImageID = id
	return nil
}

// removeRBDGroup removes the group's snapshot, takes the images out of it
// and removes it. Each step is idempotent.
func removeRBDGroup(ctx context.Context, c *cluster, g backend.GroupRef, imgs []backend.ImageRef) error {
	if err := c.sess.RemoveGroupSnapshot(ctx, backend.GroupSnapRef{Group: g, Snap: g.Name}); err != nil {
		return err
	}
	for _, img := range imgs {
		if err := c.sess.RemoveGroupImage(ctx, g, img); err != nil {
			return err
		}
	}
	return c.sess.RemoveGroup(ctx, g)
}
