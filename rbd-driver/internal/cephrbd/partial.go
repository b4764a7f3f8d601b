package cephrbd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/ceph/go-ceph/rados"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
)

// More of librbd's v2 layout (see ids.go): the header object of image ID
// <id>, and the directory's key for a name. cls_rbd's dir_remove_image
// removes a name's two directory keys only while the name still maps to
// the given ID (ESTALE otherwise).
const (
	headerObjectPrefix = "rbd_header."
	dirNameKeyPrefix   = "name_"
	clsRBD             = "rbd"
	clsDirRemoveImage  = "dir_remove_image"
)

// encodeString is a Ceph encoded string.
func encodeString(s string) []byte {
	b := make([]byte, 4+len(s))
	binary.LittleEndian.PutUint32(b, uint32(len(s)))
	copy(b[4:], s)
	return b
}

var _ backend.Partials = (*session)(nil)

// Partial implements backend.Partials: one omap read of rbd_directory,
// one stat and one read of the ID object, one stat per header.
func (s *session) Partial(ctx context.Context, img backend.ImageRef) (backend.PartialImage, error) {
	var p backend.PartialImage
	io, err := s.ioctx(ctx, img.PoolRef)
	if err != nil {
		return p, err
	}
	if p.DirID, err = dirEntry(io, img.Name); err != nil {
		return p, s.fail("read the directory entry of "+spec(img), err)
	}
	st, err := io.Stat(idObjectPrefix + img.Name)
	switch {
	case err == nil:
		p.ObjectTime = st.ModTime
		if p.ObjectID, err = s.ImageID(ctx, img); err != nil && !errors.Is(err, backend.ErrNotFound) {
			return p, err
		}
	case errno(err) != syscall.ENOENT:
		return p, s.fail("stat the ID object of "+spec(img), err)
	}
	for _, id := range []string{p.DirID, p.ObjectID} {
		if err := noHeader(io, id); err != nil {
			return p, fmt.Errorf("image %s: %w", spec(img), s.conn.Check(err))
		}
	}
	return p, nil
}

// dirEntry returns the ID the directory maps name to, "" without an entry.
func dirEntry(io *rados.IOContext, name string) (string, error) {
	op := rados.CreateReadOp()
	defer op.Release()
	key := dirNameKeyPrefix + name
	step := op.GetOmapValuesByKeys([]string{key})
	err := op.Operate(io, directoryObject, rados.OperationNoFlag)
	if errno(opError(err)) == syscall.ENOENT {
		return "", nil // no directory yet
	}
	if err != nil {
		return "", opError(err)
	}
	kv, err := step.Next()
	if err != nil || kv == nil || kv.Key != key {
		return "", err
	}
	return decodeString(kv.Value)
}

// noHeader fails with backend.ErrExists when image ID id has a header.
func noHeader(io *rados.IOContext, id string) error {
	if id == "" {
		return nil
	}
	_, err := io.Stat(headerObjectPrefix + id)
	switch {
	case err == nil:
		return fmt.Errorf("header of image ID %s: %w", id, backend.ErrExists)
	case errno(err) == syscall.ENOENT:
		return nil
	}
	return translate("stat the header of image ID "+id, err)
}

// RemovePartial implements backend.Partials: the ID object first (removed
// only while it holds p.ObjectID), then the directory entry (cls_rbd
// removes it only while it maps to p.DirID).
func (s *session) RemovePartial(ctx context.Context, img backend.ImageRef, p backend.PartialImage) error {
	io, err := s.ioctx(ctx, img.PoolRef)
	if err != nil {
		return err
	}
	for _, id := range []string{p.DirID, p.ObjectID} {
		if err := noHeader(io, id); err != nil {
			return fmt.Errorf("image %s: %w", spec(img), s.conn.Check(err))
		}
	}
	if p.ObjectID != "" {
		if err := removeIDObject(io, img.Name, p.ObjectID); err != nil {
			return fmt.Errorf("image %s: %w", spec(img), s.conn.Check(err))
		}
	}
	if p.DirID != "" {
		if err := removeDirEntry(io, img.Name, p.DirID); err != nil {
			return fmt.Errorf("image %s: %w", spec(img), s.conn.Check(err))
		}
	}
	return nil
}

// removeIDObject removes rbd_id.<name> if it holds id.
func removeIDObject(io *rados.IOContext, name, id string) error {
	op := rados.CreateWriteOp()
	defer op.Release()
	op.AssertExists()
	op.CmpExt(encodeString(id), 0)
	op.Remove()
	err := opError(op.Operate(io, idObjectPrefix+name, rados.OperationNoFlag))
	switch e := errno(err); {
	case err == nil, e == syscall.ENOENT:
		return nil
	case e >= 4095: // cmpext: -MAX_ERRNO - offset of the first mismatch
		return fmt.Errorf("ID object holds another ID than %s: %w", id, backend.ErrExists)
	}
	return translate("remove the ID object", err)
}

// removeDirEntry removes the directory's entry for name if it maps to id.
func removeDirEntry(io *rados.IOContext, name, id string) error {
	op := rados.CreateWriteOp()
	defer op.Release()
	op.Exec(clsRBD, clsDirRemoveImage, append(encodeString(name), encodeString(id)...))
	err := opError(op.Operate(io, directoryObject, rados.OperationNoFlag))
	switch errno(err) {
	case 0:
		return err
	case syscall.ENOENT:
		return nil
	case syscall.ESTALE:
		return fmt.Errorf("directory maps the name to another ID than %s: %w", id, backend.ErrExists)
	}
	return translate("remove the directory entry", err)
}

// trashObject is the pool's trash; its omap has a key per trashed image ID.
const (
	trashObject      = "rbd_trash"
	trashIDKeyPrefix = "id_"
)

var _ backend.TrashMoves = (*session)(nil)

// FinishTrashMove implements backend.TrashMoves.
func (s *session) FinishTrashMove(ctx context.Context, img backend.ImageRef, id string) error {
	io, err := s.ioctx(ctx, img.PoolRef)
	if err != nil {
		return err
	}
	in, err := inTrash(io, id)
	if err != nil {
		return s.fail("look up image ID "+id+" in the trash", err)
	}
	if !in {
		return fmt.Errorf("image ID %s in the trash of %s: %w", id, img.Pool, backend.ErrNotFound)
	}
	if err := removeIDObject(io, img.Name, id); err != nil && !errors.Is(err, backend.ErrExists) {
		return fmt.Errorf("image %s: %w", spec(img), s.conn.Check(err))
	}
	if err := removeDirEntry(io, img.Name, id); err != nil && !errors.Is(err, backend.ErrExists) {
		return fmt.Errorf("image %s: %w", spec(img), s.conn.Check(err))
	}
	return nil
}

// inTrash reports whether image ID id is in the pool's trash.
func inTrash(io *rados.IOContext, id string) (bool, error) {
	op := rados.CreateReadOp()
	defer op.Release()
	key := trashIDKeyPrefix + id
	step := op.GetOmapValuesByKeys([]string{key})
	err := opError(op.Operate(io, trashObject, rados.OperationNoFlag))
	if errno(err) == syscall.ENOENT {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	kv, err := step.Next()
	return err == nil && kv != nil && kv.Key == key, err
}

var _ backend.RenameLeftovers = (*session)(nil)

// IDObject implements backend.RenameLeftovers: one stat and one read.
func (s *session) IDObject(ctx context.Context, img backend.ImageRef) (string, time.Time, error) {
	io, err := s.ioctx(ctx, img.PoolRef)
	if err != nil {
		return "", time.Time{}, err
	}
	st, err := io.Stat(idObjectPrefix + img.Name)
	if err != nil {
		return "", time.Time{}, s.fail("stat the ID object of "+spec(img), err)
	}
	id, err := s.ImageID(ctx, img)
	return id, st.ModTime, err
}

// RemoveIDObject implements backend.RenameLeftovers with one guarded write.
func (s *session) RemoveIDObject(ctx context.Context, img backend.ImageRef, id string) error {
	io, err := s.ioctx(ctx, img.PoolRef)
	if err != nil {
		return err
	}
	if err := removeIDObject(io, img.Name, id); err != nil {
		return fmt.Errorf("image %s: %w", spec(img), s.conn.Check(err))
	}
	return nil
}
