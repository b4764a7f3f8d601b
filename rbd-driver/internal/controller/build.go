package controller

import (
	"context"
	"errors"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

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
// resolved source (nil without one) and the reservation (for a new name, the
// planned one until Reserve has written it).
type creation struct {
	c   *cluster
	t   *volumeTarget
	p   *createPlan
	src *source
	rec *journal.Record
	// adopted is set when the image already existed (left by an earlier
	// attempt or a twin) instead of being created by this request.
	adopted bool
	// created is set once this request's create or clone call made the
	// image: only then may a failure remove it (before, the image under
	// the planned name can only be a twin's).
	created bool
	// reserved is set when rec is a journal reservation a failure must
	// undo: one found by Lookup, or one this request wrote (even in part).
	reserved bool
}

func (cr *creation) image() backend.ImageRef {
	return backend.ImageRef{PoolRef: cr.t.image, Name: cr.rec.ImageName}
}

// buildThenReserve creates a new name's volume in the order that needs the
// fewest writes: the image first, under the name the journal plans for the
// request (derived from it, so a retry or a twin lands on the same image),
// then the reservation, which stores the image ID in its first write. A
// crash before the reservation leaves an image that the retry adopts; a
// record therefore always names a finished image.
func (s *Server) buildThenReserve(ctx context.Context, cr *creation) (*csi.Volume, error) {
	r := cr.p.reservation(cr.t)
	planned, name := cr.t.j.Planned(r)
	cr.rec = &journal.Record{UUID: planned, RequestName: r.RequestName, ImageName: name}
	id, size, err := s.makeImage(ctx, cr)
	if err != nil {
		s.abandon(ctx, cr)
		return nil, err
	}
	r.ImageID = id
	cr.reserved = true
	rec, err := cr.t.j.Reserve(ctx, r)
	if err != nil {
		s.abandon(ctx, cr)
		return nil, err
	}
	if rec.UUID != planned {
		return s.collided(ctx, cr, rec)
	}
	return cr.p.volume(cr.c, cr.t, rec, size)
}

// collided handles a planned UUID that belongs to another request (only
// possible with records written by other software): the image made under
// the planned name is given up when this request created it, and the volume
// is built under the reservation's own UUID.
func (s *Server) collided(ctx context.Context, cr *creation, rec *journal.Record) (*csi.Volume, error) {
	log := logging.FromContext(ctx).With(zap.String("planned_image", cr.rec.ImageName))
	if cr.adopted {
		log.Error("the planned image name of this request is in use by another request; left untouched")
	} else if err := s.discard(ctx, cr.c, cr.image()); err != nil {
		log.Warn("cannot remove the image made under a colliding name", zap.Error(err))
	}
	next := &creation{c: cr.c, t: cr.t, p: cr.p, src: cr.src, rec: rec, reserved: true}
	vol, err := s.build(ctx, next)
	if err != nil {
		s.abandon(ctx, next)
		return nil, err
	}
	return vol, nil
}

// build finishes a reservation that exists without its image: it makes the
// image (adopting one left by an earlier attempt), records its ID and
// returns the volume.
func (s *Server) build(ctx context.Context, cr *creation) (*csi.Volume, error) {
	id, size, err := s.makeImage(ctx, cr)
	if err != nil {
		return nil, err
	}
	if err := cr.t.j.SetImageID(ctx, cr.rec.UUID, id); err != nil {
		return nil, err
	}
	return cr.p.volume(cr.c, cr.t, cr.rec, size)
}

// makeImage creates the image (or adopts one left by an earlier attempt),
// grows a clone to the requested size, sets the metadata and queues the
// flatten of a deep clone. It returns the image ID and size.
func (s *Server) makeImage(ctx context.Context, cr *creation) (string, int64, error) {
	p, src := cr.p, cr.src
	l := p.params.layout
	opts := backend.ImageOptions{Size: uint64(p.size.size), Features: p.params.Features, DataPool: p.params.DataPool,
		ObjectSize: l.objectSize, StripeUnit: l.stripeUnit, StripeCount: l.stripeCount}
	if src == nil {
		id, err := s.createImage(ctx, cr, opts)
		if err != nil {
			return "", 0, err
		}
		return id, p.size.size, s.finish(ctx, cr)
	}
	size, err := p.size.forSource(src.size)
	if err != nil {
		return "", 0, err
	}
	id, err := s.clone(ctx, cr, opts)
	if err != nil {
		return "", 0, err
	}
	if size.size > src.size {
		if _, err := cr.c.sess.Resize(ctx, cr.image(), uint64(size.size)); err != nil {
			return "", 0, err
		}
	}
	return id, size.size, s.finish(ctx, cr)
}

func (s *Server) createImage(ctx context.Context, cr *creation, opts backend.ImageOptions) (string, error) {
	for attempt := 0; ; attempt++ {
		id, err := cr.c.sess.CreateImage(ctx, cr.image(), opts)
		if !errors.Is(err, backend.ErrExists) {
			cr.created = err == nil
			return id, err
		}
		id, again, err := s.adopt(ctx, cr) // left by an earlier attempt, or a twin's
		if !again {
			return id, err
		}
		if attempt > 0 {
			return "", concurrentCreate(cr)
		}
	}
}

func concurrentCreate(cr *creation) error {
	return status.Errorf(codes.Aborted, "name: image %s is being created by a concurrent request, retry",
		cr.rec.ImageName)
}

// adopt takes over the image that already exists under the planned name:
// left by an earlier attempt, or being made right now by a twin request in
// another process (per-name locks are per process). An image that does not
// open is half-made: reclaim answers Aborted while a live create may still
// be at work on it and otherwise removes its pieces; again is then true and
// the caller makes the image anew.
func (s *Server) adopt(ctx context.Context, cr *creation) (id string, again bool, err error) {
	cr.adopted = true
	st, err := cr.c.sess.Stat(ctx, cr.image())
	if errors.Is(err, backend.ErrNotFound) {
		again, err = s.reclaim(ctx, cr)
		cr.adopted = !again
		return "", again, err
	}
	if err != nil {
		return "", false, err
	}
	if s.cutOffClone(cr, st) {
		again, err = s.reclaimClone(ctx, cr, st)
		cr.adopted = !again
		return "", again, err
	}
	return st.ID, false, nil
}

// clone creates the image from the source. A volume source is cloned
// through a temporary snapshot that is removed right away: clone v2 keeps it
// in the trash namespace until the clone is flattened or deleted.
func (s *Server) clone(ctx context.Context, cr *creation, opts backend.ImageOptions) (string, error) {
	c, src := cr.c, cr.src
	parent := src.parent
	if src.fromVolume() {
		parent.Snap = tmpSnapPrefix + cr.rec.UUID
	}
	id, err := s.cloneOrAdopt(ctx, cr, parent, opts)
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

// cloneOrAdopt adopts the image under the planned name or, when there is
// none (or only a half-made one, removed), clones it.
func (s *Server) cloneOrAdopt(ctx context.Context, cr *creation, parent backend.SnapRef, opts backend.ImageOptions) (string, error) {
	for attempt := 0; ; attempt++ {
		var id string
		var again bool
		_, err := cr.c.sess.ImageID(ctx, cr.image())
		switch {
		case err == nil:
			id, again, err = s.adopt(ctx, cr)
		case errors.Is(err, backend.ErrNotFound):
			id, again, err = s.cloneFrom(ctx, cr, parent, opts)
		}
		if !again {
			return id, err
		}
		if attempt > 0 {
			return "", concurrentCreate(cr)
		}
	}
}

func (s *Server) cloneFrom(ctx context.Context, cr *creation, parent backend.SnapRef, opts backend.ImageOptions) (string, bool, error) {
	c, img := cr.c, cr.image()
	if cr.src.fromVolume() {
		if _, err := c.sess.CreateSnapshot(ctx, parent); err != nil && !errors.Is(err, backend.ErrExists) {
			return "", false, err
		}
	}
	id, err := c.sess.CloneImage(ctx, parent, img, opts)
	if errors.Is(err, backend.ErrExists) {
		return s.adopt(ctx, cr)
	}
	cr.created = err == nil
	return id, false, err
}

// finish sets the metadata and queues the flatten of a clone at or past the
// soft depth.
func (s *Server) finish(ctx context.Context, cr *creation) error {
	c, src, img := cr.c, cr.src, cr.image()
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

// abandon undoes a failed creation: the temporary snapshot, the image when
// this request created it, and then the reservation when there is one.
// When the image cannot be removed the reservation stays, so that a retry
// resumes instead of leaking an unrecorded image. An adopted image is left
// alone: it may be a twin's finished volume, and a retry adopts it again.
// So is an image this request failed to create: whatever exists under the
// planned name then is a twin's, possibly reserved and answered already.
func (s *Server) abandon(ctx context.Context, cr *creation) {
	c, src, rec := cr.c, cr.src, cr.rec
	log := logging.FromContext(ctx).With(zap.String("image", rec.ImageName))
	if cr.adopted {
		log.Info("keeping the adopted image of a failed creation for the retry")
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if src.fromVolume() {
		tmp := backend.SnapRef{Image: src.parent.Image, Snap: tmpSnapPrefix + rec.UUID}
		if err := c.sess.RemoveSnapshot(ctx, tmp); err != nil {
			log.Warn("cannot remove the temporary clone snapshot", zap.Error(err))
		}
	}
	if cr.created {
		if err := s.discard(ctx, c, cr.image()); err != nil {
			log.Warn("cannot remove the image of a failed creation; keeping its reservation", zap.Error(err))
			return
		}
	}
	if !cr.reserved {
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
