package cephrbdtest

import (
	"time"

	"github.com/ceph/go-ceph/rados"
	"github.com/ceph/go-ceph/rbd"
)

// The bare RADOS and librbd writes with which the compat tests lay down
// another CSI driver's on-cluster layout (ceph-csi's journal records and
// snapshot images), so that the driver under test finds them as that
// driver left them.

func (a *Admin) ioctx(pool, ns string) (*rados.IOContext, error) {
	io, err := a.conn.OpenIOContext(pool)
	if err != nil {
		return nil, err
	}
	io.SetNamespace(ns)
	return io, nil
}

// SetOmap sets omap keys of an object, creating the object when missing.
func (a *Admin) SetOmap(pool, ns, oid string, kv map[string]string) error {
	io, err := a.ioctx(pool, ns)
	if err != nil {
		return err
	}
	defer io.Destroy()
	vals := make(map[string][]byte, len(kv))
	for k, v := range kv {
		vals[k] = []byte(v)
	}
	return io.SetOmap(oid, vals)
}

// CreateObject creates an empty object exclusively.
func (a *Admin) CreateObject(pool, ns, oid string) error {
	io, err := a.ioctx(pool, ns)
	if err != nil {
		return err
	}
	defer io.Destroy()
	return io.Create(oid, rados.CreateExclusive)
}

// CreateImage creates a format 2 image with the given features (none: the
// cluster default) and returns its ID.
func (a *Admin) CreateImage(pool, ns, name string, size uint64, features ...string) (string, error) {
	io, err := a.ioctx(pool, ns)
	if err != nil {
		return "", err
	}
	defer io.Destroy()
	opts := rbd.NewRbdImageOptions()
	defer opts.Destroy()
	if len(features) > 0 {
		if err := opts.SetUint64(rbd.ImageOptionFeatures, uint64(rbd.FeatureSetFromNames(features))); err != nil {
			return "", err
		}
	}
	if err := rbd.CreateImage(io, name, size, opts); err != nil {
		return "", err
	}
	return imageID(io, name)
}

func imageID(io *rados.IOContext, name string) (string, error) {
	img, err := rbd.OpenImageReadOnly(io, name, rbd.NoSnapshot)
	if err != nil {
		return "", err
	}
	defer img.Close()
	return img.GetId()
}

// CreateSnapshot takes a user snapshot of an image.
func (a *Admin) CreateSnapshot(pool, ns, image, snap string) error {
	return a.withImage(pool, ns, image, func(img *rbd.Image) error {
		_, err := img.CreateSnapshot(snap)
		return err
	})
}

// RemoveSnapshot removes a user snapshot (clone v2 moves one with children
// to the trash namespace).
func (a *Admin) RemoveSnapshot(pool, ns, image, snap string) error {
	return a.withImage(pool, ns, image, func(img *rbd.Image) error {
		return img.GetSnapshot(snap).Remove()
	})
}

// Clone clones image@snap into child (clone v2) with the given features
// and returns the child's ID.
func (a *Admin) Clone(pool, ns, image, snap, child string, features ...string) (string, error) {
	io, err := a.ioctx(pool, ns)
	if err != nil {
		return "", err
	}
	defer io.Destroy()
	opts := rbd.NewRbdImageOptions()
	defer opts.Destroy()
	if err := opts.SetUint64(rbd.ImageOptionCloneFormat, 2); err != nil {
		return "", err
	}
	if len(features) > 0 {
		if err := opts.SetUint64(rbd.ImageOptionFeatures, uint64(rbd.FeatureSetFromNames(features))); err != nil {
			return "", err
		}
	}
	if err := rbd.CloneImage(io, image, snap, io, child, opts); err != nil {
		return "", err
	}
	return imageID(io, child)
}

// withImage opens an image read-write (which registers a watch on its
// header) for fn.
func (a *Admin) withImage(pool, ns, name string, fn func(*rbd.Image) error) error {
	return a.useImage(pool, ns, name, rbd.OpenImage, fn)
}

// withImageRO opens an image read-only (no watch) for fn.
func (a *Admin) withImageRO(pool, ns, name string, fn func(*rbd.Image) error) error {
	return a.useImage(pool, ns, name, rbd.OpenImageReadOnly, fn)
}

func (a *Admin) useImage(pool, ns, name string, open func(*rados.IOContext, string, string) (*rbd.Image, error),
	fn func(*rbd.Image) error) error {
	io, err := a.ioctx(pool, ns)
	if err != nil {
		return err
	}
	defer io.Destroy()
	img, err := open(io, name, rbd.NoSnapshot)
	if err != nil {
		return err
	}
	defer img.Close()
	return fn(img)
}

// ImageID returns the ID of an image.
func (a *Admin) ImageID(pool, ns, name string) (string, error) {
	io, err := a.ioctx(pool, ns)
	if err != nil {
		return "", err
	}
	defer io.Destroy()
	return imageID(io, name)
}

// Flatten flattens a clone in place, as the flatten tasks ceph-csi queues
// on the mgr do.
func (a *Admin) Flatten(pool, ns, name string) error {
	return a.withImage(pool, ns, name, func(img *rbd.Image) error { return img.Flatten() })
}

// Created returns the creation time of an image.
func (a *Admin) Created(pool, ns, name string) (time.Time, error) {
	var t time.Time
	err := a.withImage(pool, ns, name, func(img *rbd.Image) error {
		ts, err := img.GetCreateTimestamp()
		t = time.Unix(ts.Sec, ts.Nsec)
		return err
	})
	return t, err
}
