package cephrbd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/ceph/go-ceph/rados"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
)

// librbd's on-disk format (v2 images, stable since Ceph 0.56): the object
// rbd_id.<name> holds the image ID, and the omap of rbd_directory maps
// "id_<id>" to the name and "name_<name>" to the ID, each value a Ceph
// encoded string (32-bit little-endian length, then the bytes). Reading them
// costs one round trip, where opening the image costs several and, for a
// read-write open, registers a watch.
const (
	idObjectPrefix  = "rbd_id."
	directoryObject = "rbd_directory"
	dirIDKeyPrefix  = "id_"
	maxEncodedName  = 4096
)

// decodeString decodes a Ceph encoded string.
func decodeString(b []byte) (string, error) {
	if len(b) < 4 {
		return "", errors.New("short encoded string")
	}
	n := binary.LittleEndian.Uint32(b)
	if int(n) > len(b)-4 {
		return "", errors.New("truncated encoded string")
	}
	return string(b[4 : 4+n]), nil
}

// ImageID implements backend.Session with one read of rbd_id.<name>.
func (s *session) ImageID(ctx context.Context, img backend.ImageRef) (string, error) {
	io, err := s.ioctx(ctx, img.PoolRef)
	if err != nil {
		return "", err
	}
	buf := make([]byte, 4+maxEncodedName)
	n, err := io.Read(idObjectPrefix+img.Name, buf, 0)
	if err != nil {
		return "", s.fail("read the ID of "+spec(img), err)
	}
	id, err := decodeString(buf[:n])
	if err != nil || id == "" {
		return "", fmt.Errorf("image %s: bad ID object: %v", spec(img), err)
	}
	return id, nil
}

// ImageName implements backend.Session with one omap read of rbd_directory.
// Trashed images are not in the directory.
func (s *session) ImageName(ctx context.Context, p backend.PoolRef, id string) (string, error) {
	io, err := s.ioctx(ctx, p)
	if err != nil {
		return "", err
	}
	op := rados.CreateReadOp()
	defer op.Release()
	key := dirIDKeyPrefix + id
	step := op.GetOmapValuesByKeys([]string{key})
	if err := op.Operate(io, directoryObject, rados.OperationNoFlag); err != nil {
		return "", s.fail("look up image ID "+id, opError(err))
	}
	kv, err := step.Next()
	if err != nil {
		return "", s.fail("look up image ID "+id, err)
	}
	if kv == nil || kv.Key != key {
		return "", fmt.Errorf("image ID %s in %s: %w", id, p.Pool, backend.ErrNotFound)
	}
	return decodeString(kv.Value)
}

// opError unwraps a compound operation's error to the errno of its
// failing step (go-ceph's OperationError does not unwrap by itself).
func opError(err error) error {
	var oe rados.OperationError
	if !errors.As(err, &oe) {
		return err
	}
	for _, se := range oe.StepErrors {
		if se != nil {
			return se
		}
	}
	if oe.OpError != nil {
		return oe.OpError
	}
	return err
}
