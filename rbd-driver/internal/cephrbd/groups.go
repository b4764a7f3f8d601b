package cephrbd

import (
	"context"
	"errors"
	"fmt"

	"github.com/ceph/go-ceph/rbd"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/crashpoint"
)

// groupSpec renders pool/namespace/group as the rbd CLI does.
func groupSpec(g backend.GroupRef) string {
	return spec(backend.ImageRef{PoolRef: g.PoolRef, Name: g.Name})
}

// CreateGroup implements backend.Session.
func (s *session) CreateGroup(ctx context.Context, g backend.GroupRef) error {
	io, err := s.ioctx(ctx, g.PoolRef)
	if err != nil {
		return err
	}
	err = s.fail("create group "+groupSpec(g), rbd.GroupCreate(io, g.Name))
	if errors.Is(err, backend.ErrExists) {
		return nil
	}
	if err == nil {
		crashpoint.Hit(StepGroupCreated)
	}
	return err
}

// AddGroupImage implements backend.Session. librbd answers EEXIST for an
// image in any group, so the image's group is read first.
func (s *session) AddGroupImage(ctx context.Context, g backend.GroupRef, img backend.ImageRef) error {
	gio, err := s.ioctx(ctx, g.PoolRef)
	if err != nil {
		return err
	}
	iio, err := s.ioctx(ctx, img.PoolRef)
	if err != nil {
		return err
	}
	in, err := s.groupOf(ctx, img)
	if err != nil {
		return err
	}
	switch {
	case in.Name == g.Name && in.PoolID == gio.GetPoolID():
		return nil
	case in.Name != "":
		return fmt.Errorf("image %s is in RBD group %q: %w", spec(img), in.Name, backend.ErrInOtherGroup)
	}
	what := fmt.Sprintf("add image %s to group %s", spec(img), groupSpec(g))
	err = s.fail(what, rbd.GroupImageAdd(gio, g.Name, iio, img.Name))
	if errors.Is(err, backend.ErrExists) {
		// Added meanwhile: by a twin request (fine) or to another group.
		if in, gerr := s.groupOf(ctx, img); gerr == nil && in.Name == g.Name && in.PoolID == gio.GetPoolID() {
			return nil
		}
		return fmt.Errorf("%w: %w", backend.ErrInOtherGroup, err)
	}
	if err != nil {
		return err
	}
	crashpoint.Hit(StepGroupImageAdded)
	return nil
}

// groupOf returns the group an image is a member of (Name "" for none).
func (s *session) groupOf(ctx context.Context, img backend.ImageRef) (rbd.GroupInfo, error) {
	image, err := s.openRO(ctx, img)
	if err != nil {
		return rbd.GroupInfo{}, err
	}
	defer image.Close()
	in, err := image.GetGroup()
	return in, s.fail("group of image "+spec(img), err)
}

// RemoveGroupImage implements backend.Session.
func (s *session) RemoveGroupImage(ctx context.Context, g backend.GroupRef, img backend.ImageRef) error {
	gio, err := s.ioctx(ctx, g.PoolRef)
	if err != nil {
		return err
	}
	iio, err := s.ioctx(ctx, img.PoolRef)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("remove image %s from group %s", spec(img), groupSpec(g))
	err = s.fail(what, rbd.GroupImageRemove(gio, g.Name, iio, img.Name))
	if errors.Is(err, backend.ErrNotFound) {
		return nil
	}
	if err == nil {
		crashpoint.Hit(StepGroupImageRemoved)
	}
	return err
}

// RemoveGroup implements backend.Session.
func (s *session) RemoveGroup(ctx context.Context, g backend.GroupRef) error {
	io, err := s.ioctx(ctx, g.PoolRef)
	if err != nil {
		return err
	}
	err = s.fail("remove group "+groupSpec(g), rbd.GroupRemove(io, g.Name))
	if errors.Is(err, backend.ErrNotFound) {
		return nil
	}
	if err == nil {
		crashpoint.Hit(StepGroupRemoved)
	}
	return err
}

// ListGroups implements backend.Session.
func (s *session) ListGroups(ctx context.Context, p backend.PoolRef) ([]string, error) {
	io, err := s.ioctx(ctx, p)
	if err != nil {
		return nil, err
	}
	names, err := rbd.GroupList(io)
	if errors.Is(s.fail("", err), backend.ErrNotFound) {
		return nil, nil // no rbd_group_directory yet
	}
	return names, s.fail("list groups of "+p.Pool, err)
}
