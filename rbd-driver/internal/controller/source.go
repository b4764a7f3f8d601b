package controller

import (
	"context"
	"errors"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// source is a resolved content source.
type source struct {
	// parent is the snapshot to clone; for a volume source Snap is empty
	// and build takes a temporary snapshot named after the new volume.
	parent backend.SnapRef
	// size is the source's size in bytes.
	size int64
	// depth is the clone depth of the new volume.
	depth int
}

func (src *source) fromVolume() bool { return src != nil && src.parent.Snap == "" }

// resolveSource finds the content source of p (nil without one) and checks
// the clone depth limits before anything is reserved.
func (s *Server) resolveSource(ctx context.Context, c *cluster, p *createPlan) (*source, error) {
	if id := p.source.GetSnapshot().GetSnapshotId(); id != "" {
		return s.snapshotSource(ctx, c, p, id)
	}
	if id := p.source.GetVolume().GetVolumeId(); id != "" {
		return s.volumeSource(ctx, c, p, id)
	}
	return nil, nil
}

// sameCluster decodes a source ID and checks it is on the request's cluster.
func sameCluster(field, id, clusterID string) (volid.ID, error) {
	vid, err := volid.Decode(id)
	if err != nil {
		return vid, notFound(field, "%q cannot exist: %v", id, err)
	}
	if vid.ClusterID != clusterID {
		return vid, invalidArg(field, "the source is on cluster %q, the volume would be on %q", vid.ClusterID, clusterID)
	}
	return vid, nil
}

func (s *Server) snapshotSource(ctx context.Context, c *cluster, p *createPlan, id string) (*source, error) {
	const field = "volume_content_source.snapshot.snapshot_id"
	vid, err := sameCluster(field, id, p.params.ClusterID)
	if err != nil {
		return nil, err
	}
	o, err := s.lookup(ctx, c, journal.Snapshots, field, vid)
	if err != nil {
		return nil, missingAsNotFound(field, err)
	}
	if err := notEncrypted(field, id, o.rec); err != nil {
		return nil, err
	}
	src, err := snapshotParent(ctx, c, o, field, id)
	if err != nil {
		return nil, err
	}
	depth, err := c.sess.Depth(ctx, src.parent.Image, src.parent.Snap)
	if err != nil {
		return nil, missingAsNotFound(field, err)
	}
	src.depth = depth + 1
	if src.depth > s.cfg.CloneHardDepth {
		// CreateSnapshot keeps snapshots shallower than the hard limit;
		// this one predates a lower limit.
		return nil, status.Errorf(codes.FailedPrecondition,
			"%s: restoring it would give a clone chain of depth %d, over the limit %d",
			field, src.depth, s.cfg.CloneHardDepth)
	}
	return src, nil
}

// snapshotParent finds the RBD snapshot a restore clones: the snapshot of
// the volume's image (this driver's model) or of the csi-snap image
// (ceph-csi's), with its size.
func snapshotParent(ctx context.Context, c *cluster, o *object, field, id string) (*source, error) {
	if isCephCSISnapshot(o.rec) {
		snap, err := findCephCSISnap(ctx, c, o.imagePool, o.rec)
		if err != nil {
			return nil, missingAsNotFound(field, err)
		}
		return &source{parent: snap.ref, size: int64(snap.info.Size)}, nil
	}
	if o.rec.ImageID == "" {
		return nil, status.Errorf(codes.Unavailable, "%s: snapshot %q is not ready yet", field, id)
	}
	name, err := c.sess.ImageName(ctx, c.pool(o.imagePool), o.rec.ImageID)
	if err != nil {
		return nil, missingAsNotFound(field, err)
	}
	src := &source{parent: backend.SnapRef{Image: o.imageRef(name), Snap: o.rec.ImageName}}
	src.size, _ = strconv.ParseInt(o.rec.Attributes[attrSnapSize], 10, 64)
	return src, nil
}

func (s *Server) volumeSource(ctx context.Context, c *cluster, p *createPlan, id string) (*source, error) {
	const field = "volume_content_source.volume.volume_id"
	vid, err := sameCluster(field, id, p.params.ClusterID)
	if err != nil {
		return nil, err
	}
	o, err := s.lookup(ctx, c, journal.Volumes, field, vid)
	if err != nil {
		return nil, missingAsNotFound(field, err)
	}
	if err := notEncrypted(field, id, o.rec); err != nil {
		return nil, err
	}
	if err := o.knownImageID(ctx); err != nil {
		return nil, missingAsNotFound(field, err)
	}
	if o.rec.ImageID == "" {
		return nil, status.Errorf(codes.Unavailable, "%s: volume %q is not ready yet", field, id)
	}
	img := o.imageRef(o.rec.ImageName)
	st, err := c.sess.Stat(ctx, img)
	if err != nil {
		return nil, missingAsNotFound(field, err)
	}
	src := &source{parent: backend.SnapRef{Image: img}, size: int64(st.Size), depth: 1}
	if st.HasParent {
		if src.depth, err = c.sess.Depth(ctx, img, ""); err != nil {
			return nil, err
		}
		src.depth++
	}
	if src.depth > s.cfg.CloneHardDepth {
		return nil, s.flattenFirst(ctx, c, img, field, src.depth)
	}
	return src, nil
}

// flattenFirst queues a flatten of a source that is too deep to clone and
// returns Aborted: the retry succeeds once the mgr has flattened it.
func (s *Server) flattenFirst(ctx context.Context, c *cluster, img backend.ImageRef, field string, depth int) error {
	if err := c.sess.QueueFlatten(ctx, img); err != nil {
		return err
	}
	return status.Errorf(codes.Aborted,
		"%s: a clone would have depth %d, over the limit %d; the source is being flattened, retry later",
		field, depth, s.cfg.CloneHardDepth)
}

// missingAsNotFound turns every "does not exist" error into NotFound for
// field (CSI: a missing content source is NOT_FOUND).
func missingAsNotFound(field string, err error) error {
	var fe *fieldError
	if errors.As(err, &fe) || !isNotFound(err) {
		return err
	}
	return notFound(field, "%v", err)
}
