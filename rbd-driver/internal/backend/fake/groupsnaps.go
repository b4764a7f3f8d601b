package fake

import (
	"context"
	"fmt"
	"slices"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
)

// InjectIncompleteGroupSnap marks a group snapshot as left incomplete by a
// creation that died (librbd's RBD_GROUP_SNAP_STATE_INCOMPLETE), taking it
// if it does not exist.
func (b *Backend) InjectIncompleteGroupSnap(clusterID string, ref backend.GroupSnapRef) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.clusters[clusterID].pools[ref.Group.Pool]
	g := p.groups[ref.Group.Namespace+"/"+ref.Group.Name]
	g.snaps[ref.Snap] = map[*image]uint64{}
	g.incomplete[ref.Snap] = true
}

func (s *session) CreateGroupSnapshot(ctx context.Context, ref backend.GroupSnapRef) error {
	return s.do(ctx, "CreateGroupSnapshot", func() error {
		_, g, err := s.group(ref.Group)
		if err != nil {
			return err
		}
		if _, ok := g.snaps[ref.Snap]; ok && !g.incomplete[ref.Snap] {
			return nil
		}
		delete(g.incomplete, ref.Snap)
		sizes := map[*image]uint64{}
		for im := range g.members {
			sizes[im] = im.size
		}
		g.snaps[ref.Snap] = sizes
		return nil
	})
}

func (s *session) RemoveGroupSnapshot(ctx context.Context, ref backend.GroupSnapRef) error {
	return s.do(ctx, "RemoveGroupSnapshot", func() error {
		if _, g, err := s.group(ref.Group); err == nil {
			delete(g.snaps, ref.Snap)
			delete(g.incomplete, ref.Snap)
		}
		return nil
	})
}

func (s *session) GroupSnapshots(ctx context.Context, ref backend.GroupRef) (names []string, err error) {
	err = s.do(ctx, "GroupSnapshots", func() error {
		_, g, err := s.group(ref)
		if err != nil {
			return err
		}
		for name := range g.snaps {
			names = append(names, name)
		}
		slices.Sort(names)
		return nil
	})
	return names, err
}

// ImageFromGroupSnapshot copies (the fake has no rbd_clone4): the new image
// has the member's size at the group snapshot and no parent.
func (s *session) ImageFromGroupSnapshot(ctx context.Context, ref backend.GroupSnapRef, img backend.ImageRef, dst string, o backend.ImageOptions) (id string, err error) {
	err = s.do(ctx, "ImageFromGroupSnapshot", func() error {
		_, g, err := s.group(ref.Group)
		if err != nil {
			return err
		}
		im, err := s.image(img)
		if err != nil {
			return err
		}
		size, ok := g.snaps[ref.Snap][im]
		if !ok {
			return fmt.Errorf("image %s has no snapshot of %s@%s: %w", img.Name, ref.Group.Name, ref.Snap,
				backend.ErrNotFound)
		}
		o.Size = size
		o.Features = im.features
		out, err := s.newImage(backend.ImageRef{PoolRef: img.PoolRef, Name: dst}, o)
		if err == nil {
			id = out.id
		}
		return err
	})
	return id, err
}
