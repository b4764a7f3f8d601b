package cephrbd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ceph/go-ceph/rbd"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
)

// snapshots lists an open image's user snapshots with their creation times
// (librbd keeps them in the image context: no extra round trip). The
// listing also holds the trash namespace snapshots clone v2 keeps for
// children of removed snapshots; they are left out.
func snapshots(image *rbd.Image) ([]backend.Snapshot, error) {
	infos, err := image.GetSnapshotNames()
	if err != nil {
		return nil, err
	}
	out := make([]backend.Snapshot, 0, len(infos))
	for _, si := range infos {
		ns, err := image.GetSnapNamespaceType(si.Id)
		if err != nil {
			return nil, err
		}
		if ns != rbd.SnapNamespaceTypeUser {
			continue
		}
		snap := backend.Snapshot{ID: si.Id, Name: si.Name, Size: si.Size}
		if ts, err := image.GetSnapTimestamp(si.Id); err == nil {
			snap.Created = time.Unix(ts.Sec, ts.Nsec)
		}
		out = append(out, snap)
	}
	return out, nil
}

func findSnapshot(image *rbd.Image, ref backend.SnapRef) (*backend.Snapshot, error) {
	snaps, err := snapshots(image)
	if err != nil {
		return nil, translate("snapshots of "+spec(ref.Image), err)
	}
	for i := range snaps {
		if snaps[i].Name == ref.Snap {
			return &snaps[i], nil
		}
	}
	return nil, fmt.Errorf("snapshot %s@%s: %w", spec(ref.Image), ref.Snap, backend.ErrNotFound)
}

// CreateSnapshot implements backend.Session.
func (s *session) CreateSnapshot(ctx context.Context, ref backend.SnapRef) (*backend.Snapshot, error) {
	image, err := s.openRW(ctx, ref.Image)
	if err != nil {
		return nil, err
	}
	created := false
	defer hitAfterClose(StepSnapshotCreated, &created)
	defer image.Close()
	err = s.retryOwnStaleLock(ctx, ref.Image, image, func() error {
		_, err := image.CreateSnapshot(ref.Snap)
		return err
	})
	if err != nil {
		return nil, s.fail(fmt.Sprintf("create snapshot %s@%s", spec(ref.Image), ref.Snap), err)
	}
	snap, err := findSnapshot(image, ref)
	if errors.Is(err, backend.ErrNotFound) {
		// librbd answers success when another client made the snapshot
		// between this open and the create (it turns the header's EEXIST
		// into 0), without adding it to this handle.
		return nil, fmt.Errorf("create snapshot %s@%s: made by another client: %w", spec(ref.Image), ref.Snap,
			backend.ErrExists)
	}
	created = err == nil
	return snap, s.conn.Check(err)
}

// SnapshotInfo implements backend.Session.
func (s *session) SnapshotInfo(ctx context.Context, ref backend.SnapRef) (*backend.Snapshot, error) {
	image, err := s.openRO(ctx, ref.Image)
	if err != nil {
		return nil, err
	}
	defer image.Close()
	snap, err := findSnapshot(image, ref)
	return snap, s.conn.Check(err)
}

// RemoveSnapshot implements backend.Session. librbd moves a snapshot that
// still has clone v2 children to the trash namespace.
func (s *session) RemoveSnapshot(ctx context.Context, ref backend.SnapRef) error {
	image, err := s.openRW(ctx, ref.Image)
	if errors.Is(err, backend.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	removed := false
	defer hitAfterClose(StepSnapshotRemoved, &removed)
	defer image.Close()
	err = s.fail(fmt.Sprintf("remove snapshot %s@%s", spec(ref.Image), ref.Snap), s.retryOwnStaleLock(ctx, ref.Image, image, image.GetSnapshot(ref.Snap).Remove))
	if errors.Is(err, backend.ErrNotFound) {
		return nil
	}
	removed = err == nil
	return err
}

// depthAttempts bounds how often Depth restarts a walk whose chain changed
// under it.
const depthAttempts = 5

// errChainChanged marks a walk that read a parent link and then found the
// parent (or its snapshot) gone: a flatten finished in between, and clone v2
// removed the trashed snapshot the link named.
var errChainChanged = errors.New("clone chain changed while it was read")

// Depth implements backend.Session: it follows the parent links, opening
// each ancestor read-only by ID (trashed parents included) at the snapshot
// the child references. A flatten finishing during the walk makes a link
// just read point at nothing; the walk then starts again from the image,
// whose fresh header no longer names that parent.
func (s *session) Depth(ctx context.Context, img backend.ImageRef, snap string) (int, error) {
	for attempt := 1; ; attempt++ {
		depth, err := s.walkDepth(ctx, img, snap)
		if !errors.Is(err, errChainChanged) {
			return depth, err
		}
		if attempt == depthAttempts {
			return 0, fmt.Errorf("depth of %s: %w (%d attempts): %w", spec(img), errChainChanged, attempt, backend.ErrUnavailable)
		}
	}
}

// walkDepth counts the ancestors of img (at snap, if given) once.
func (s *session) walkDepth(ctx context.Context, img backend.ImageRef, snap string) (int, error) {
	image, err := s.openRO(ctx, img)
	if errors.Is(err, backend.ErrNotFound) {
		// Opening a clone opens its parent too: when a flatten ends during
		// the open, the parent snapshot vanishes and the open fails with
		// ENOENT although the image exists. Walk again then.
		if _, idErr := s.ImageID(ctx, img); idErr == nil {
			return 0, fmt.Errorf("%w: %w", errChainChanged, err)
		}
	}
	if err != nil {
		return 0, err
	}
	if snap != "" {
		if err := image.SetSnapshot(snap); err != nil {
			image.Close()
			return 0, s.fail(fmt.Sprintf("open %s@%s", spec(img), snap), err)
		}
	}
	depth := 0
	for {
		parent, err := image.GetParent()
		image.Close()
		if errors.Is(err, rbd.ErrNotFound) {
			return depth, nil
		}
		if err != nil {
			return 0, s.fail("parent of "+spec(img), err)
		}
		depth++
		image, err = s.openParent(ctx, parent)
		if errors.Is(err, backend.ErrNotFound) {
			return 0, fmt.Errorf("%w: %w", errChainChanged, err)
		}
		if err != nil {
			return 0, err
		}
	}
}

// openParent opens a parent image read-only at the referenced snapshot.
func (s *session) openParent(ctx context.Context, p *rbd.ParentInfo) (*rbd.Image, error) {
	io, err := s.ioctx(ctx, backend.PoolRef{Pool: p.Image.PoolName, Namespace: p.Image.PoolNamespace})
	if err != nil {
		return nil, err
	}
	image, err := rbd.OpenImageByIdReadOnly(io, p.Image.ImageID, rbd.NoSnapshot)
	if err != nil {
		return nil, s.fail("open parent "+p.Image.ImageID, err)
	}
	if err := image.SetSnapByID(p.Snap.ID); err != nil {
		image.Close()
		return nil, s.fail("open parent snapshot", err)
	}
	return image, nil
}
