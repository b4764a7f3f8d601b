package cephrbd

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"syscall"
	"time"

	"github.com/ceph/go-ceph/rbd"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/crashpoint"
)

// defaultOrder is the default object size: 4 MiB objects.
const defaultOrder = 22

// imageOptions builds librbd options; the caller destroys them.
func imageOptions(o backend.ImageOptions, clone bool) (*rbd.ImageOptions, error) {
	opts := rbd.NewRbdImageOptions()
	set := []error{
		opts.SetUint64(rbd.ImageOptionFormat, 2),
		opts.SetUint64(rbd.ImageOptionOrder, order(o.ObjectSize)),
	}
	if len(o.Features) > 0 {
		// Without features librbd applies the cluster's rbd_default_features.
		set = append(set, opts.SetUint64(rbd.ImageOptionFeatures, uint64(rbd.FeatureSetFromNames(o.Features))))
	}
	if o.StripeUnit > 0 {
		set = append(set, opts.SetUint64(rbd.ImageOptionStripeUnit, o.StripeUnit),
			opts.SetUint64(rbd.ImageOptionStripeCount, o.StripeCount))
	}
	if o.DataPool != "" {
		set = append(set, opts.SetString(rbd.ImageOptionDataPool, o.DataPool))
	}
	if clone {
		set = append(set, opts.SetUint64(rbd.ImageOptionCloneFormat, 2))
	}
	if err := errors.Join(set...); err != nil {
		opts.Destroy()
		return nil, fmt.Errorf("image options: %w", err)
	}
	return opts, nil
}

// order is log2 of an object size (defaultOrder for 0).
func order(objectSize uint64) uint64 {
	if objectSize == 0 {
		return defaultOrder
	}
	return uint64(bits.TrailingZeros64(objectSize))
}

// CreateImage implements backend.Session.
func (s *session) CreateImage(ctx context.Context, img backend.ImageRef, o backend.ImageOptions) (string, error) {
	io, err := s.ioctx(ctx, img.PoolRef)
	if err != nil {
		return "", err
	}
	if err := s.checkDataPool(ctx, o.DataPool); err != nil {
		return "", err
	}
	opts, err := imageOptions(o, false)
	if err != nil {
		return "", err
	}
	defer opts.Destroy()
	if err := rbd.CreateImage(io, img.Name, o.Size, opts); err != nil {
		return "", s.fail("create image "+spec(img), err)
	}
	crashpoint.Hit(StepImageCreated)
	return s.ImageID(ctx, img)
}

func (s *session) checkDataPool(ctx context.Context, pool string) error {
	if pool == "" {
		return nil
	}
	_, err := s.PoolID(ctx, pool)
	return err
}

// CloneImage implements backend.Session.
func (s *session) CloneImage(ctx context.Context, parent backend.SnapRef, child backend.ImageRef, o backend.ImageOptions) (string, error) {
	pio, err := s.ioctx(ctx, parent.Image.PoolRef)
	if err != nil {
		return "", err
	}
	cio, err := s.ioctx(ctx, child.PoolRef)
	if err != nil {
		return "", err
	}
	if err := s.checkDataPool(ctx, o.DataPool); err != nil {
		return "", err
	}
	opts, err := imageOptions(o, true)
	if err != nil {
		return "", err
	}
	defer opts.Destroy()
	if err := rbd.CloneImage(pio, parent.Image.Name, parent.Snap, cio, child.Name, opts); err != nil {
		return "", s.fail(fmt.Sprintf("clone %s@%s to %s", spec(parent.Image), parent.Snap, spec(child)), err)
	}
	crashpoint.Hit(StepImageCloned)
	return s.ImageID(ctx, child)
}

// spec renders pool/namespace/name as the rbd CLI does.
func spec(img backend.ImageRef) string {
	if img.Namespace == "" {
		return img.Pool + "/" + img.Name
	}
	return img.Pool + "/" + img.Namespace + "/" + img.Name
}

// openRO opens an image read-only: no watch is registered.
func (s *session) openRO(ctx context.Context, img backend.ImageRef) (*rbd.Image, error) {
	io, err := s.ioctx(ctx, img.PoolRef)
	if err != nil {
		return nil, err
	}
	image, err := rbd.OpenImageReadOnly(io, img.Name, rbd.NoSnapshot)
	if err != nil {
		return nil, s.fail("open image "+spec(img), err)
	}
	return image, nil
}

// openRW opens an image read-write, for operations that change it.
func (s *session) openRW(ctx context.Context, img backend.ImageRef) (*rbd.Image, error) {
	io, err := s.ioctx(ctx, img.PoolRef)
	if err != nil {
		return nil, err
	}
	image, err := rbd.OpenImage(io, img.Name, rbd.NoSnapshot)
	if err != nil {
		return nil, s.fail("open image "+spec(img), err)
	}
	return image, nil
}

// Stat implements backend.Session with one read-only open.
func (s *session) Stat(ctx context.Context, img backend.ImageRef) (*backend.ImageStatus, error) {
	image, err := s.openRO(ctx, img)
	if err != nil {
		return nil, err
	}
	defer image.Close()
	st := &backend.ImageStatus{Name: img.Name}
	if st.ID, err = image.GetId(); err != nil {
		return nil, s.fail("image ID of "+spec(img), err)
	}
	if st.Size, err = image.GetSize(); err != nil {
		return nil, s.fail("size of "+spec(img), err)
	}
	if st.Watchers, st.OwnWatchers, err = s.watchers(image); err != nil {
		return nil, s.fail("watchers of "+spec(img), err)
	}
	if st.Snapshots, err = snapshots(image); err != nil {
		return nil, s.fail("snapshots of "+spec(img), err)
	}
	if parent, perr := image.GetParent(); perr == nil {
		st.HasParent, st.ParentImage = true, parent.Image.ImageName
	}
	ts, err := image.GetCreateTimestamp()
	if err != nil {
		return nil, s.fail("creation time of "+spec(img), err)
	}
	st.Created = time.Unix(ts.Sec, ts.Nsec)
	return st, nil
}

// watchers returns the addresses of the image's watchers and how many of
// them are this session's connection.
func (s *session) watchers(image *rbd.Image) ([]string, int, error) {
	ws, err := image.ListWatchers()
	if err != nil {
		return nil, 0, err
	}
	self := s.conn.GetInstanceID()
	addrs, own := make([]string, 0, len(ws)), 0
	for _, w := range ws {
		addrs = append(addrs, w.Addr)
		if uint64(w.Id) == self {
			own++
		}
	}
	return addrs, own, nil
}

// Resize implements backend.Session; it never shrinks.
func (s *session) Resize(ctx context.Context, img backend.ImageRef, size uint64) (uint64, error) {
	image, err := s.openRW(ctx, img)
	if err != nil {
		return 0, err
	}
	grown := false
	defer hitAfterClose(StepImageResized, &grown)
	defer image.Close()
	cur, err := image.GetSize()
	if err != nil {
		return 0, s.fail("size of "+spec(img), err)
	}
	if cur >= size {
		return cur, nil
	}
	if err := s.retryOwnStaleLock(ctx, img, image, func() error { return image.Resize(size) }); err != nil {
		return 0, s.fail("resize "+spec(img), err)
	}
	grown = true
	return size, nil
}

// Rename implements backend.Session.
func (s *session) Rename(ctx context.Context, img backend.ImageRef, newName string) error {
	io, err := s.ioctx(ctx, img.PoolRef)
	if err != nil {
		return err
	}
	if err := s.retryUnopened(ctx, img, func() error { return rbd.GetImage(io, img.Name).Rename(newName) }); err != nil {
		return s.fail(fmt.Sprintf("rename %s to %s", spec(img), newName), err)
	}
	crashpoint.Hit(StepImageRenamed)
	return nil
}

// SetMetadata implements backend.Session.
func (s *session) SetMetadata(ctx context.Context, img backend.ImageRef, kv map[string]string) error {
	image, err := s.openRW(ctx, img)
	if err != nil {
		return err
	}
	set := false
	defer hitAfterClose(StepMetadataSet, &set)
	defer image.Close()
	for k, v := range kv {
		if err := s.retryOwnStaleLock(ctx, img, image, func() error { return image.SetMetadata(k, v) }); err != nil {
			return s.fail("set metadata on "+spec(img), err)
		}
	}
	set = true
	return nil
}

// Metadata implements backend.Session.
func (s *session) Metadata(ctx context.Context, img backend.ImageRef) (map[string]string, error) {
	image, err := s.openRO(ctx, img)
	if err != nil {
		return nil, err
	}
	defer image.Close()
	md, err := image.ListMetadata()
	if err != nil {
		return nil, s.fail("list metadata of "+spec(img), err)
	}
	return md, nil
}

// RemoveMetadata implements backend.Session.
func (s *session) RemoveMetadata(ctx context.Context, img backend.ImageRef, keys []string) error {
	image, err := s.openRW(ctx, img)
	if err != nil {
		return err
	}
	defer image.Close()
	for _, k := range keys {
		err := s.retryOwnStaleLock(ctx, img, image, func() error { return image.RemoveMetadata(k) })
		if err != nil && !errors.Is(err, rbd.ErrNotFound) {
			return s.fail("remove metadata from "+spec(img), err)
		}
	}
	return nil
}

// Trash implements backend.Session: rbd_trash_move with no delay.
func (s *session) Trash(ctx context.Context, img backend.ImageRef) error {
	io, err := s.ioctx(ctx, img.PoolRef)
	if err != nil {
		return err
	}
	if err := s.retryUnopened(ctx, img, func() error { return rbd.GetImage(io, img.Name).Trash(0) }); err != nil {
		return s.conn.Check(trashError(img, err))
	}
	crashpoint.Hit(StepImageTrashed)
	return nil
}

// trashError translates a failed rbd_trash_move. ESTALE means that a
// concurrent move of the same image (a twin request in another process)
// finished first: librbd found the trash entry already past the state it
// expected. The image is then in the trash and no longer under this name,
// which is what not found means to the callers.
func trashError(img backend.ImageRef, err error) error {
	if errno(err) == syscall.ESTALE {
		return fmt.Errorf("move to trash %s: moved concurrently: %w: %w", spec(img), backend.ErrNotFound, err)
	}
	return translate("move to trash "+spec(img), err)
}
