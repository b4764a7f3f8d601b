package cephrbd

import (
	"context"
	"errors"
	"fmt"

	"github.com/ceph/go-ceph/rados"
	"github.com/ceph/go-ceph/rbd"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/crashpoint"
)

func groupSnapSpec(s backend.GroupSnapRef) string { return groupSpec(s.Group) + "@" + s.Snap }

// CreateGroupSnapshot implements backend.Session: librbd quiesces and
// snapshots every member image in one group operation.
func (s *session) CreateGroupSnapshot(ctx context.Context, ref backend.GroupSnapRef) error {
	io, err := s.ioctx(ctx, ref.Group.PoolRef)
	if err != nil {
		return err
	}
	snaps, err := rbd.GroupSnapList(io, ref.Group.Name)
	if err != nil {
		return s.fail("list snapshots of group "+groupSpec(ref.Group), err)
	}
	for _, sn := range snaps {
		if sn.Name != ref.Snap {
			continue
		}
		if sn.State == rbd.GroupSnapStateComplete {
			return nil
		}
		// A creation that died half-way: its member snapshots may be
		// missing; take it again.
		if err := s.RemoveGroupSnapshot(ctx, ref); err != nil {
			return err
		}
	}
	err = s.fail("create group snapshot "+groupSnapSpec(ref), rbd.GroupSnapCreate(io, ref.Group.Name, ref.Snap))
	if errors.Is(err, backend.ErrExists) {
		// Another client (a twin request) is taking it: wait for it.
		return fmt.Errorf("%w: %w", backend.ErrUnavailable, err)
	}
	if err != nil {
		return err
	}
	crashpoint.Hit(StepGroupSnapCreated)
	return nil
}

// RemoveGroupSnapshot implements backend.Session.
func (s *session) RemoveGroupSnapshot(ctx context.Context, ref backend.GroupSnapRef) error {
	io, err := s.ioctx(ctx, ref.Group.PoolRef)
	if err != nil {
		return err
	}
	err = s.fail("remove group snapshot "+groupSnapSpec(ref), rbd.GroupSnapRemove(io, ref.Group.Name, ref.Snap))
	if errors.Is(err, backend.ErrNotFound) {
		return nil
	}
	if err == nil {
		crashpoint.Hit(StepGroupSnapRemoved)
	}
	return err
}

// GroupSnapshots implements backend.Session.
func (s *session) GroupSnapshots(ctx context.Context, g backend.GroupRef) ([]string, error) {
	io, err := s.ioctx(ctx, g.PoolRef)
	if err != nil {
		return nil, err
	}
	snaps, err := rbd.GroupSnapList(io, g.Name)
	if err != nil {
		return nil, s.fail("list snapshots of group "+groupSpec(g), err)
	}
	names := make([]string, len(snaps))
	for i, sn := range snaps {
		names[i] = sn.Name
	}
	return names, nil
}

// ImageFromGroupSnapshot implements backend.Session. rbd_clone4 (clone by
// snapshot ID, Reef+) is looked up at run time by go-ceph; where it is
// missing (Pacific) the member snapshot is copied with rbd_copy from an
// image handle set to that snapshot.
func (s *session) ImageFromGroupSnapshot(ctx context.Context, ref backend.GroupSnapRef, img backend.ImageRef, dst string, o backend.ImageOptions) (string, error) {
	io, err := s.ioctx(ctx, img.PoolRef)
	if err != nil {
		return "", err
	}
	image, err := s.openRO(ctx, img)
	if err != nil {
		return "", err
	}
	defer image.Close()
	snapID, err := s.memberSnapID(ctx, image, ref)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", spec(img), err)
	}
	target := backend.ImageRef{PoolRef: img.PoolRef, Name: dst}
	what := fmt.Sprintf("image %s from %s of group snapshot %s", spec(target), spec(img), groupSnapSpec(ref))
	err = cloneByID(io, img.Name, snapID, dst, o)
	if errors.Is(err, rbd.ErrNotImplemented) {
		err = copyAt(image, snapID, io, dst)
	}
	if err != nil {
		return "", s.fail(what, err)
	}
	crashpoint.Hit(StepGroupImageCopied)
	return s.ImageID(ctx, target)
}

func cloneByID(io *rados.IOContext, parent string, snapID uint64, dst string, o backend.ImageOptions) error {
	opts, err := imageOptions(o, true)
	if err != nil {
		return err
	}
	defer opts.Destroy()
	return rbd.CloneImageByID(io, parent, snapID, io, dst, opts)
}

// copyAt copies the image's content at snapshot snapID into a new image.
func copyAt(image *rbd.Image, snapID uint64, io *rados.IOContext, dst string) error {
	if err := image.SetSnapByID(snapID); err != nil {
		return err
	}
	return image.Copy(io, dst)
}

// memberSnapID finds the image's snapshot that belongs to the group
// snapshot ref (a snapshot of the group namespace, named by librbd).
func (s *session) memberSnapID(ctx context.Context, image *rbd.Image, ref backend.GroupSnapRef) (uint64, error) {
	gio, err := s.ioctx(ctx, ref.Group.PoolRef)
	if err != nil {
		return 0, err
	}
	infos, err := image.GetSnapshotNames()
	if err != nil {
		return 0, s.fail("list snapshots", err)
	}
	for _, si := range infos {
		ns, err := image.GetSnapNamespaceType(si.Id)
		if err != nil || ns != rbd.SnapNamespaceTypeGroup {
			continue
		}
		g, err := image.GetSnapGroupNamespace(si.Id)
		if err != nil {
			continue
		}
		if g.GroupName == ref.Group.Name && g.GroupSnapName == ref.Snap && int64(g.Pool) == gio.GetPoolID() {
			return si.Id, nil
		}
	}
	return 0, fmt.Errorf("no snapshot of group snapshot %s: %w", groupSnapSpec(ref), backend.ErrNotFound)
}
