package fake

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
)

type session struct {
	b *Backend
	c *cluster
}

// do runs fn under the backend's lock after the hook.
func (s *session) do(ctx context.Context, op string, fn func() error) error {
	if err := s.b.enter(ctx, op); err != nil {
		return err
	}
	s.b.mu.Lock()
	err := fn()
	s.b.mu.Unlock()
	return s.b.leave(op, err)
}

func (s *session) Release() {}

func (s *session) pool(name string) (*pool, error) {
	p, ok := s.c.pools[name]
	if !ok {
		return nil, backend.PoolError(name)
	}
	return p, nil
}

func (s *session) image(ref backend.ImageRef) (*image, error) {
	p, err := s.pool(ref.Pool)
	if err != nil {
		return nil, err
	}
	img, ok := p.images[ref.Namespace+"/"+ref.Name]
	if !ok {
		return nil, fmt.Errorf("image %s/%s: %w", ref.Pool, ref.Name, backend.ErrNotFound)
	}
	return img, nil
}

func (img *image) userSnap(name string) *snap {
	for _, s := range img.snaps {
		if !s.trash && s.name == name {
			return s
		}
	}
	return nil
}

func (s *session) PoolID(ctx context.Context, name string) (id int64, err error) {
	err = s.do(ctx, "PoolID", func() error {
		p, err := s.pool(name)
		if err == nil {
			id = p.id
		}
		return err
	})
	return id, err
}

func (s *session) PoolName(ctx context.Context, id int64) (name string, err error) {
	err = s.do(ctx, "PoolName", func() error {
		for _, p := range s.c.pools {
			if p.id == id {
				name = p.name
				return nil
			}
		}
		return backend.PoolError(fmt.Sprint(id))
	})
	return name, err
}

func (s *session) Pools(ctx context.Context) (names []string, err error) {
	err = s.do(ctx, "Pools", func() error {
		for n := range s.c.pools {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil
	})
	return names, err
}

func (s *session) ObjectStore(ctx context.Context, ref backend.PoolRef) (st journal.ObjectStore, err error) {
	err = s.do(ctx, "ObjectStore", func() error {
		p, err := s.pool(ref.Pool)
		if err == nil {
			st = p.store(ref.Namespace)
		}
		return err
	})
	return st, err
}

func (s *session) CreateImage(ctx context.Context, ref backend.ImageRef, o backend.ImageOptions) (id string, err error) {
	err = s.do(ctx, "CreateImage", func() error {
		img, err := s.newImage(ref, o)
		if err == nil {
			id = img.id
		}
		return err
	})
	return id, err
}

func (s *session) newImage(ref backend.ImageRef, o backend.ImageOptions) (*image, error) {
	p, err := s.pool(ref.Pool)
	if err != nil {
		return nil, err
	}
	if o.DataPool != "" {
		if _, err := s.pool(o.DataPool); err != nil {
			return nil, err
		}
	}
	key := ref.Namespace + "/" + ref.Name
	if _, ok := p.images[key]; ok || !p.partials[key].Empty() {
		return nil, fmt.Errorf("image %s: %w", ref.Name, backend.ErrExists)
	}
	img := &image{id: s.b.newID(), name: ref.Name, ns: ref.Namespace, size: o.Size,
		features: slices.Clone(o.Features), dataPool: o.DataPool, pool: p, metadata: map[string]string{},
		layout: [3]uint64{o.ObjectSize, o.StripeUnit, o.StripeCount}, created: s.b.clock()}
	p.images[key] = img
	return img, nil
}

func (s *session) CloneImage(ctx context.Context, parent backend.SnapRef, child backend.ImageRef, o backend.ImageOptions) (id string, err error) {
	err = s.do(ctx, "CloneImage", func() error {
		pimg, err := s.image(parent.Image)
		if err != nil {
			return err
		}
		ps := pimg.userSnap(parent.Snap)
		if ps == nil {
			return fmt.Errorf("snapshot %s@%s: %w", parent.Image.Name, parent.Snap, backend.ErrNotFound)
		}
		o.Size = ps.size
		img, err := s.newImage(child, o)
		if err != nil {
			return err
		}
		img.parent = &link{img: pimg, snap: ps}
		ps.children++
		id = img.id
		return nil
	})
	return id, err
}

func (s *session) ImageID(ctx context.Context, ref backend.ImageRef) (id string, err error) {
	err = s.do(ctx, "ImageID", func() error {
		img, err := s.image(ref)
		if err == nil {
			id = img.id
		}
		if p, ok := s.c.pools[ref.Pool]; ok && isNotFound(err) && p.partials[ref.Namespace+"/"+ref.Name].ObjectID != "" {
			id, err = p.partials[ref.Namespace+"/"+ref.Name].ObjectID, nil // the ID object of a half-made image
		}
		return err
	})
	return id, err
}

func (s *session) ImageName(ctx context.Context, ref backend.PoolRef, id string) (name string, err error) {
	err = s.do(ctx, "ImageName", func() error {
		p, err := s.pool(ref.Pool)
		if err != nil {
			return err
		}
		for _, img := range p.images {
			if img.id == id && img.ns == ref.Namespace {
				name = img.name
				return nil
			}
		}
		return fmt.Errorf("image ID %s: %w", id, backend.ErrNotFound)
	})
	return name, err
}

func (s *session) Stat(ctx context.Context, ref backend.ImageRef) (st *backend.ImageStatus, err error) {
	err = s.do(ctx, "Stat", func() error {
		img, err := s.image(ref)
		if err != nil {
			return err
		}
		st = &backend.ImageStatus{ID: img.id, Name: img.name, Size: img.size,
			Watchers: slices.Clone(img.watchers), HasParent: img.parent != nil, Created: img.created}
		if img.parent != nil {
			st.ParentImage = img.parent.img.name
		}
		for _, sn := range img.snaps {
			if !sn.trash {
				st.Snapshots = append(st.Snapshots, sn.info())
			}
		}
		return nil
	})
	return st, err
}

func (sn *snap) info() backend.Snapshot {
	return backend.Snapshot{ID: sn.id, Name: sn.name, Size: sn.size, Created: time.Unix(int64(sn.id), 0)}
}

func (s *session) Depth(ctx context.Context, ref backend.ImageRef, snapName string) (depth int, err error) {
	err = s.do(ctx, "Depth", func() error {
		img, err := s.image(ref)
		if err != nil {
			return err
		}
		l := img.parent
		if snapName != "" {
			sn := img.userSnap(snapName)
			if sn == nil {
				return fmt.Errorf("snapshot %s@%s: %w", ref.Name, snapName, backend.ErrNotFound)
			}
			l = sn.parent
		}
		for ; l != nil; l = l.snap.parent {
			depth++
		}
		return nil
	})
	return depth, err
}

func (s *session) Resize(ctx context.Context, ref backend.ImageRef, size uint64) (now uint64, err error) {
	err = s.do(ctx, "Resize", func() error {
		img, err := s.image(ref)
		if err != nil {
			return err
		}
		if size > img.size {
			img.size = size
		}
		now = img.size
		return nil
	})
	return now, err
}

func (s *session) Rename(ctx context.Context, ref backend.ImageRef, newName string) error {
	return s.do(ctx, "Rename", func() error {
		img, err := s.image(ref)
		if err != nil {
			return err
		}
		key := ref.Namespace + "/" + newName
		if _, taken := img.pool.images[key]; taken || !img.pool.partials[key].Empty() {
			return fmt.Errorf("image %s: %w", newName, backend.ErrExists)
		}
		delete(img.pool.images, ref.Namespace+"/"+ref.Name)
		img.name = newName
		img.pool.images[key] = img
		return nil
	})
}

func (s *session) SetMetadata(ctx context.Context, ref backend.ImageRef, kv map[string]string) error {
	return s.do(ctx, "SetMetadata", func() error {
		img, err := s.image(ref)
		if err == nil {
			for k, v := range kv {
				img.metadata[k] = v
			}
		}
		return err
	})
}

func (s *session) Metadata(ctx context.Context, ref backend.ImageRef) (md map[string]string, err error) {
	err = s.do(ctx, "Metadata", func() error {
		img, err := s.image(ref)
		if err == nil {
			md = maps.Clone(img.metadata)
		}
		return err
	})
	return md, err
}

func (s *session) RemoveMetadata(ctx context.Context, ref backend.ImageRef, keys []string) error {
	return s.do(ctx, "RemoveMetadata", func() error {
		img, err := s.image(ref)
		if err == nil {
			for _, k := range keys {
				delete(img.metadata, k)
			}
		}
		return err
	})
}

func (s *session) Trash(ctx context.Context, ref backend.ImageRef) error {
	return s.do(ctx, "Trash", func() error {
		img, err := s.image(ref)
		if err != nil {
			return err
		}
		delete(img.pool.images, ref.Namespace+"/"+ref.Name)
		img.pool.trash[img.id] = img
		return nil
	})
}

func (s *session) PurgeTrash(ctx context.Context, ref backend.PoolRef, id string) (res backend.PurgeResult, err error) {
	err = s.do(ctx, "PurgeTrash", func() error {
		p, err := s.pool(ref.Pool)
		if err != nil {
			return err
		}
		img, ok := p.trash[id]
		if !ok {
			res = backend.PurgeRemoved
			return nil
		}
		if !s.b.mgrDown {
			s.b.addTask(task{kind: "trash remove", pool: p, id: id})
			res = backend.PurgeQueued
			return nil
		}
		if p.removeTrashed(img) {
			res = backend.PurgeRemoved
		} else {
			res = backend.PurgeDeferred
		}
		return nil
	})
	return res, err
}

func (s *session) TrashList(ctx context.Context, ref backend.PoolRef) (out []backend.TrashEntry, err error) {
	err = s.do(ctx, "TrashList", func() error {
		p, err := s.pool(ref.Pool)
		if err != nil {
			return err
		}
		for id, img := range p.trash {
			if img.ns == ref.Namespace {
				out = append(out, backend.TrashEntry{ID: id, Name: img.name})
			}
		}
		return nil
	})
	return out, err
}

func (s *session) QueueFlatten(ctx context.Context, ref backend.ImageRef) error {
	return s.do(ctx, "QueueFlatten", func() error {
		img, err := s.image(ref)
		if err != nil {
			return err
		}
		if s.b.mgrDown {
			return fmt.Errorf("mgr: %w", backend.ErrUnavailable)
		}
		if img.parent == nil {
			return nil
		}
		s.b.addTask(task{kind: "flatten", pool: img.pool, id: img.id})
		return nil
	})
}

func (s *session) CreateSnapshot(ctx context.Context, ref backend.SnapRef) (info *backend.Snapshot, err error) {
	err = s.do(ctx, "CreateSnapshot", func() error {
		img, err := s.image(ref.Image)
		if err != nil {
			return err
		}
		if img.userSnap(ref.Snap) != nil {
			return fmt.Errorf("snapshot %s@%s: %w", ref.Image.Name, ref.Snap, backend.ErrExists)
		}
		s.b.nextID++
		sn := &snap{id: uint64(s.b.nextID), name: ref.Snap, size: img.size, parent: img.parent}
		img.snaps = append(img.snaps, sn)
		i := sn.info()
		info = &i
		return nil
	})
	return info, err
}

func (s *session) SnapshotInfo(ctx context.Context, ref backend.SnapRef) (info *backend.Snapshot, err error) {
	err = s.do(ctx, "SnapshotInfo", func() error {
		img, err := s.image(ref.Image)
		if err != nil {
			return err
		}
		sn := img.userSnap(ref.Snap)
		if sn == nil {
			return fmt.Errorf("snapshot %s@%s: %w", ref.Image.Name, ref.Snap, backend.ErrNotFound)
		}
		i := sn.info()
		info = &i
		return nil
	})
	return info, err
}

func (s *session) RemoveSnapshot(ctx context.Context, ref backend.SnapRef) error {
	return s.do(ctx, "RemoveSnapshot", func() error {
		img, err := s.image(ref.Image)
		if err != nil {
			if isNotFound(err) {
				return nil
			}
			return err
		}
		sn := img.userSnap(ref.Snap)
		switch {
		case sn == nil:
		case sn.children > 0:
			sn.trash = true
		default:
			img.dropSnap(sn)
		}
		return nil
	})
}

func (s *session) AvailableBytes(ctx context.Context, poolName string) (n int64, err error) {
	err = s.do(ctx, "AvailableBytes", func() error {
		if poolName != "" {
			if _, err := s.pool(poolName); err != nil {
				return err
			}
		}
		n = s.c.avail
		return nil
	})
	return n, err
}
