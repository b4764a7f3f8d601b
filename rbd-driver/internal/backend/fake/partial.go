package fake

import (
	"context"
	"fmt"
	"time"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
)

// LeavePartial leaves the pieces of a half-made image under ref's name, as
// a create killed inside librbd does.
func (b *Backend) LeavePartial(clusterID string, ref backend.ImageRef, p backend.PartialImage) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.clusters[clusterID].pools[ref.Pool].partials[ref.Namespace+"/"+ref.Name] = p
}

// Partials lists the half-made images of a pool as "namespace/name".
func (b *Backend) Partials(clusterID, poolName string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for key := range b.clusters[clusterID].pools[poolName].partials {
		out = append(out, key)
	}
	return out
}

func (s *session) Partial(ctx context.Context, ref backend.ImageRef) (pi backend.PartialImage, err error) {
	err = s.do(ctx, "Partial", func() error {
		p, err := s.pool(ref.Pool)
		if err != nil {
			return err
		}
		key := ref.Namespace + "/" + ref.Name
		if _, ok := p.images[key]; ok {
			return fmt.Errorf("image %s has a header: %w", ref.Name, backend.ErrExists)
		}
		pi = p.partials[key]
		return nil
	})
	return pi, err
}

func (s *session) RemovePartial(ctx context.Context, ref backend.ImageRef, pi backend.PartialImage) error {
	return s.do(ctx, "RemovePartial", func() error {
		p, err := s.pool(ref.Pool)
		if err != nil {
			return err
		}
		key := ref.Namespace + "/" + ref.Name
		cur, ok := p.partials[key]
		switch {
		case !ok:
			return nil
		case !cur.Same(pi):
			return fmt.Errorf("image %s: pieces changed: %w", ref.Name, backend.ErrExists)
		}
		delete(p.partials, key)
		return nil
	})
}

// FinishTrashMove: the fake's trash moves are atomic, so nothing is ever
// left under the name; an ID in the trash is done, any other not found.
func (s *session) FinishTrashMove(ctx context.Context, ref backend.ImageRef, id string) error {
	return s.do(ctx, "FinishTrashMove", func() error {
		p, err := s.pool(ref.Pool)
		if err != nil {
			return err
		}
		if _, ok := p.trash[id]; !ok {
			return fmt.Errorf("image ID %s in the trash: %w", id, backend.ErrNotFound)
		}
		return nil
	})
}

// IDObject implements backend.RenameLeftovers. The fake's renames are
// atomic, so the only ID objects are those of images and of half-made
// images; their write time is unknown (zero).
func (s *session) IDObject(ctx context.Context, ref backend.ImageRef) (string, time.Time, error) {
	id, err := s.ImageID(ctx, ref)
	return id, time.Time{}, err
}

// RemoveIDObject implements backend.RenameLeftovers for half-made images;
// the ID object of a complete image is part of the image here: ErrExists.
func (s *session) RemoveIDObject(ctx context.Context, ref backend.ImageRef, id string) error {
	return s.do(ctx, "RemoveIDObject", func() error {
		p, err := s.pool(ref.Pool)
		if err != nil {
			return err
		}
		key := ref.Namespace + "/" + ref.Name
		if img, ok := p.images[key]; ok {
			return fmt.Errorf("image %s (ID %s) is complete: %w", ref.Name, img.id, backend.ErrExists)
		}
		pi := p.partials[key]
		switch pi.ObjectID {
		case "":
			return nil
		case id:
			pi.ObjectID = ""
			p.partials[key] = pi
			return nil
		}
		return fmt.Errorf("ID object of %s holds %s: %w", ref.Name, pi.ObjectID, backend.ErrExists)
	})
}
