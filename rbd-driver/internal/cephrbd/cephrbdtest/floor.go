package cephrbdtest

import (
	"github.com/ceph/go-ceph/rados"
	"github.com/ceph/go-ceph/rbd"
)

// Floor runs the bare librbd calls the driver's CreateVolume and
// DeleteVolume are measured against, on one shared I/O context.
type Floor struct {
	io       *rados.IOContext
	features uint64
}

// NewFloor opens pool for floor measurements; Close it.
func NewFloor(a *Admin, pool string, features []string) (*Floor, error) {
	io, err := a.conn.OpenIOContext(pool)
	if err != nil {
		return nil, err
	}
	return &Floor{io: io, features: uint64(rbd.FeatureSetFromNames(features))}, nil
}

// Close releases the I/O context.
func (f *Floor) Close() { f.io.Destroy() }

// Create is rbd.CreateImage with the driver's options (format 2, 4 MiB
// objects, the given features).
func (f *Floor) Create(name string, size uint64) error {
	opts := rbd.NewRbdImageOptions()
	defer opts.Destroy()
	if err := opts.SetUint64(rbd.ImageOptionFeatures, f.features); err != nil {
		return err
	}
	if err := opts.SetUint64(rbd.ImageOptionOrder, 22); err != nil {
		return err
	}
	return rbd.CreateImage(f.io, name, size, opts)
}

// Remove is rbd.RemoveImage: a synchronous removal of every object.
func (f *Floor) Remove(name string) error {
	return rbd.RemoveImage(f.io, name)
}
