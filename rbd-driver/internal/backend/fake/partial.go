package fake

import (
	"context"
	"fmt"

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
