package controller

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/logging"
)

// Half-made images. librbd creates an image in three writes: the
// directory entry, the ID object, the header. A controller killed between
// them leaves a name that can neither be created (exists) nor opened (not
// found). The same state lasts a few round trips while a live create, in
// this or another process, is at work; a live create's remaining writes
// (and, when it fails, its rollback) are each bounded by the Ceph op
// timeout, so no live create touches the pieces more than PartialBound
// after they were seen. Pieces seen unchanged for longer (or whose ID
// object was written longer ago) belong to no live create: they are
// removed, exactly (the ID object only while it holds the same ID, the
// directory entry only while it maps to the same ID), and the image is
// created again under the same name, so the retry gets the same volume ID.

// PartialBoundFactor times the Ceph op timeout is the default
// Config.PartialBound: librbd's create issues at most 6 OSD operations
// after its first write, and its rollback at most 4.
const PartialBoundFactor = 10

// DefaultPartialBound is Config.PartialBound with the default op timeout.
const DefaultPartialBound = PartialBoundFactor * 30 * time.Second

// sighting is when this process first saw a half-made image's pieces.
type sighting struct {
	pieces backend.PartialImage
	at     time.Time
}

// partialSightings remembers the half-made images this process has seen.
type partialSightings struct {
	mu   sync.Mutex
	seen map[string]sighting
}

// firstSeen returns when p was first seen under key (now when p is new or
// differs from what was seen) and forgets sightings older than keep.
func (ps *partialSightings) firstSeen(key string, p backend.PartialImage, now time.Time, keep time.Duration) time.Time {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.seen == nil {
		ps.seen = map[string]sighting{}
	}
	for k, s := range ps.seen {
		if now.Sub(s.at) > keep {
			delete(ps.seen, k)
		}
	}
	s, ok := ps.seen[key]
	if !ok || !s.pieces.Same(p) {
		s = sighting{pieces: p, at: now}
		ps.seen[key] = s
	}
	return s.at
}

func (ps *partialSightings) forget(key string) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	delete(ps.seen, key)
}

func partialKey(img backend.ImageRef) string {
	return img.Pool + "/" + img.Namespace + "/" + img.Name
}

// partialAge is how long no live create can have been working on p: since
// this process first saw it, or since its ID object was written.
func (s *Server) partialAge(img backend.ImageRef, p backend.PartialImage) time.Duration {
	now := s.cfg.Now()
	age := now.Sub(s.partials.firstSeen(partialKey(img), p, now, 4*s.cfg.PartialBound))
	if !p.ObjectTime.IsZero() && now.Sub(p.ObjectTime) > age {
		age = now.Sub(p.ObjectTime)
	}
	return age
}

// reclaim handles an image name that exists but does not open. It returns
// true when the name is free again (the half-made pieces removed, by this
// request or another), so that the caller creates the image again, and
// Aborted while a live create may still be at work on it.
func (s *Server) reclaim(ctx context.Context, cr *creation) (bool, error) {
	img, sess := cr.image(), cr.c.sess
	p, err := sess.Partial(ctx, img)
	switch {
	case errors.Is(err, backend.ErrExists):
		return false, status.Errorf(codes.Aborted, "name: image %s is being created by a concurrent request, retry", img.Name)
	case err != nil:
		return false, err
	case p.Empty():
		return true, nil
	}
	if age := s.partialAge(img, p); age < s.cfg.PartialBound {
		return false, status.Errorf(codes.Aborted, "name: image %s is half-made (a concurrent create, or one killed "+
			"inside librbd): removed if unchanged %s after it was first seen, retry", img.Name, s.cfg.PartialBound)
	}
	if err := sess.RemovePartial(ctx, img, p); err != nil {
		if errors.Is(err, backend.ErrExists) {
			return false, status.Errorf(codes.Aborted, "name: image %s is being created by a concurrent request, retry", img.Name)
		}
		return false, err
	}
	s.partials.forget(partialKey(img))
	logging.FromContext(ctx).Warn("removed a half-made image left by a killed create",
		zap.String("image", img.Name), zap.String("dir_id", p.DirID), zap.String("object_id", p.ObjectID))
	return true, nil
}

// cutOffClone reports whether the image a clone or restore adopts is a
// clone cut off inside librbd: librbd's clone creates the child image
// first and links it to its parent snapshot after, so a clone killed in
// between leaves an image that opens but has no parent (and none of the
// source's data). A clone the driver never flattens (its source is below
// the soft depth) must have a parent; a deeper one may have lost it to the
// queued flatten and is adopted as it is.
func (s *Server) cutOffClone(cr *creation, st *backend.ImageStatus) bool {
	return cr.src != nil && !st.HasParent && cr.src.depth < s.cfg.CloneSoftDepth
}

// reclaimClone removes a cut-off clone once no live clone can still be
// linking it to its parent (PartialBound after its creation, as for a
// half-made image) and returns true: the caller clones again. Before,
// Aborted.
func (s *Server) reclaimClone(ctx context.Context, cr *creation, st *backend.ImageStatus) (bool, error) {
	img := cr.image()
	if age := s.cfg.Now().Sub(st.Created); age < s.cfg.PartialBound {
		return false, status.Errorf(codes.Aborted, "name: clone %s has no parent yet (a concurrent clone, or one "+
			"killed inside librbd): removed if still so %s after its creation, retry", img.Name, s.cfg.PartialBound)
	}
	if err := s.discard(ctx, cr.c, img); err != nil {
		return false, err
	}
	logging.FromContext(ctx).Warn("removed a clone without parent left by a killed clone",
		zap.String("image", img.Name), zap.String("id", st.ID))
	return true, nil
}
