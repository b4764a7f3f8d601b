package cephrbd

import (
	"context"
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
		return nil, translate("list images of "+p.Pool, err)
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
		return time.Time{}, translate("creation time of "+spec(img), err)
	}
	since := time.Unix(ts.Sec, ts.Nsec)
	io, err := s.ioctx(ctx, img.PoolRef)
	if err != nil {
		return time.Time{}, err
	}
	st, err := io.Stat(idObjectPrefix + img.Name)
	if err != nil {
		return time.Time{}, translate("stat the ID object of "+spec(img), err)
	}
	if st.ModTime.After(since) {
		since = st.ModTime
	}
	return since, nil
}
