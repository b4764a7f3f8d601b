package cephrbd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ceph/go-ceph/rbd"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
)

var _ backend.Inventory = (*session)(nil)

// ListImages implements backend.Inventory (one read of rbd_directory).
func (s *session) ListImages(ctx context.Context, p backend.PoolRef) ([]string, error) {
	io, err := s.ioctx(ctx, p)
	if err != nil {
		return nil, err
	}
	names, err := rbd.GetImageNames(io)
	if err != nil {
		return nil, s.fail("list images of "+p.Pool, err)
	}
	return names, nil
}

// ImageSince implements backend.Inventory: the later of the image's
// creation timestamp and the last write of its rbd_id.<name> object, which
// librbd writes when the image is created and when it is renamed (a tomb's
// age is the deleted volume's, not the original image's).
func (s *session) ImageSince(ctx context.Context, img backend.ImageRef) (time.Time, error) {
	image, err := s.openRO(ctx, img)
	if err != nil {
		return time.Time{}, err
	}
	ts, err := image.GetCreateTimestamp()
	image.Close()
	if err != nil {
		return time.Time{}, s.fail("creation time of "+spec(img), err)
	}
	since := time.Unix(ts.Sec, ts.Nsec)
	io, err := s.ioctx(ctx, img.PoolRef)
	if err != nil {
		return time.Time{}, err
	}
	st, err := io.Stat(idObjectPrefix + img.Name)
	if err != nil {
		return time.Time{}, s.fail("stat the ID object of "+spec(img), err)
	}
	if st.ModTime.After(since) {
		since = st.ModTime
	}
	return since, nil
}

// TrashSnapshots implements backend.Inventory.
func (s *session) TrashSnapshots(ctx context.Context, p backend.PoolRef, id string) ([]backend.Snapshot, error) {
	if err := s.inTrash(ctx, p, id); err != nil {
		return nil, err
	}
	io, err := s.ioctx(ctx, p)
	if err != nil {
		return nil, err
	}
	image, err := rbd.OpenImageByIdReadOnly(io, id, rbd.NoSnapshot)
	if err != nil {
		return nil, s.fail("open trashed image "+id, err)
	}
	defer image.Close()
	return snapshots(image)
}

// inTrash returns ErrNotFound unless the image ID is in the pool's trash.
func (s *session) inTrash(ctx context.Context, p backend.PoolRef, id string) error {
	entries, err := s.TrashList(ctx, p)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.ID == id {
			return nil
		}
	}
	return fmt.Errorf("image %s is not in the trash of %s: %w", id, p.Pool, backend.ErrNotFound)
}

// RemoveTrashSnapshot implements backend.Inventory.
func (s *session) RemoveTrashSnapshot(ctx context.Context, p backend.PoolRef, id, snap string) error {
	if err := s.inTrash(ctx, p, id); errors.Is(err, backend.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	io, err := s.ioctx(ctx, p)
	if err != nil {
		return err
	}
	image, err := rbd.OpenImageById(io, id, rbd.NoSnapshot)
	if err != nil {
		return ignoreNotFound(s.fail("open trashed image "+id, err))
	}
	defer image.Close()
	return ignoreNotFound(s.fail("remove snapshot "+snap+" of trashed image "+id, image.GetSnapshot(snap).Remove()))
}

func ignoreNotFound(err error) error {
	if errors.Is(err, backend.ErrNotFound) {
		return nil
	}
	return err
}
