package controller

import (
	"context"
	"errors"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"go.uber.org/zap"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/logging"
)

// cleanupTimeout bounds the undo of a failed creation, which runs even when
// the request's own context has ended.
const cleanupTimeout = 30 * time.Second

// tmpSnapPrefix names the temporary snapshot a volume clone is taken from.
const tmpSnapPrefix = "csi-clone-"

// creation is one CreateVolume in progress: the plan, where it goes, the
// resolved source (nil without one) and the reservation.
type creation struct {
	c   *cluster
	t   *volumeTarget
	p   *createPlan
	src *source
	rec *journal.Record
}

func (cr *creation) image() backend.ImageRef {
	return backend.ImageRef{PoolRef: cr.t.image, Name: cr.rec.ImageName}
}

// build creates the image of a reservation (idempotently: an image left by
// an earlier attempt is adopted), records its ID and returns the volume.
func (s *Server) build(ctx context.Context, cr *creation) (*csi.Volume, error) {
	c, p, src := cr.c, cr.p, cr.src
	opts := backend.ImageOptions{Size: uint64(p.size.size), Features: p.params.Features, DataPool: p.params.DataPool}
	var id string
	var err error
	size := p.size
	switch {
	case src == nil:
		id, err = s.createImage(ctx, c, cr.image(), opts)
	default:
		if size, err = p.size.forSource(src.size); err != nil {
			return nil, err
		}
		id, err = s.clone(ctx, cr, opts)
	}
	if err != nil {
		return nil, err
	}
	if src != nil && size.size > src.size {
		if _, err := c.sess.Resize(ctx, cr.image(), uint64(size.size)); err != nil {
			return nil, err
		}
	}
	if err := s.finish(ctx, cr, id); err != nil {
		return nil, err
	}
	return p.volume(c, cr.t, cr.rec, size.size)
}

func (s *Server) createImage(ctx context.Context, c *cluster, img backend.ImageRef, opts backend.ImageOptions) (string, error) {
	id, err := c.sess.CreateImage(ctx, img, opts)
	if errors.Is(err, backend.ErrExists) {
		return c.sess.ImageID(ctx, img) // left by an earlier attempt
	}
	return id, err
}

// clone creates img from the source. A volume source is cloned through a
// temporary snapshot that is removed right away: clone v2 keeps it in the
// trash namespace until the clone is flattened or deleted.
func (s *Server) clone(ctx context.Context, cr *creation, opts backend.ImageOptions) (string, error) {
	c, src, img := cr.c, cr.src, cr.image()
	parent := src.parent
	if src.fromVolume() {
		parent.Snap = tmpSnapPrefix + cr.rec.UUID
	}
	id, err := c.sess.ImageID(ctx, img)
	if errors.Is(err, backend.ErrNotFound) {
		id, err = s.cloneFrom(ctx, c, img, parent, src.fromVolume(), opts)
	}
	if err != nil {
		return "", err
	}
	if src.fromVolume() {
		if err := c.sess.RemoveSnapshot(ctx, parent); err != nil {
			return "", err
		}
	}
	return id, nil
}

func (s *Server) cloneFrom(ctx context.Context, c *cluster, img backend.ImageRef, parent backend.SnapRef, temporary bool, opts backend.ImageOptions) (string, error) {
	if temporary {
		if _, err := c.sess.CreateSnapshot(ctx, parent); err != nil && !errors.Is(err, backend.ErrExists) {
			return "", err
		}
	}
	id, err := c.sess.CloneImage(ctx, parent, img, opts)
	if errors.Is(err, backend.ErrExists) {
		return c.sess.ImageID(ctx, img)
	}
	return id, err
}

// finish records the image ID (the reservation is then complete), sets the
// metadata and queues the flatten of a clone at or past the soft depth.
func (s *Server) finish(ctx context.Context, cr *creation, id string) error {
	c, src, img := cr.c, cr.src, cr.image()
	if err := cr.t.j.SetImageID(ctx, cr.rec.UUID, id); err != nil {
		return err
	}
	if md := cr.p.params.Metadata; s.cfg.SetMetadata && len(md) > 0 {
		if err := c.sess.SetMetadata(ctx, img, md); err != nil {
			return err
		}
	}
	if src != nil && src.depth >= s.cfg.CloneSoftDepth {
		if err := c.sess.QueueFlatten(ctx, img); err != nil {
			// Not fatal: the hard limit still holds.
			logging.FromContext(ctx).Warn("cannot queue the flatten of a deep clone",
				zap.String("image", img.Name), zap.Int("depth", src.depth), zap.Error(err))
		}
	}
	return nil
}

// abandon undoes a failed creation: the temporary snapshot, the image and
// then the reservation. When the image cannot be removed the reservation
// stays, so that a retry resumes instead of leaking an unrecorded image.
func (s *Server) abandon(ctx context.Context, cr *creation) {
	c, src, rec := cr.c, cr.src, cr.rec
	log := logging.FromContext(ctx).With(zap.String("image", rec.ImageName))
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if src.fromVolume() {
		tmp := backend.SnapRef{Image: src.parent.Image, Snap: tmpSnapPrefix + rec.UUID}
		if err := c.sess.RemoveSnapshot(ctx, tmp); err != nil {
			log.Warn("cannot remove the temporary clone snapshot", zap.Error(err))
		}
	}
	if err := s.discard(ctx, c, cr.image()); err != nil {
		log.Warn("cannot remove the image of a failed creation; keeping its reservation", zap.Error(err))
		return
	}
	if err := cr.t.j.Undo(ctx, rec); err != nil {
		log.Warn("cannot undo the reservation of a failed creation", zap.Error(err))
	}
}

// discard removes an image through the trash; a missing image is fine.
func (s *Server) discard(ctx context.Context, c *cluster, img backend.ImageRef) error {
	id, err := c.sess.ImageID(ctx, img)
	if errors.Is(err, backend.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := c.sess.Trash(ctx, img); err != nil && !errors.Is(err, backend.ErrNotFound) {
		return err
	}
	_, err = c.sess.PurgeTrash(ctx, img.PoolRef, id)
	return err
}
