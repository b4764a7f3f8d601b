package cephconn

import (
	"context"
	"errors"
	"syscall"

	"github.com/ceph/go-ceph/rados"

	"github.com/seed-6a310834/ceph-csi/shared/journal"
)

var _ journal.VersionedStore = (*ObjectStore)(nil)

// xattrMax bounds the extended attribute values ReadVersioned reads.
const xattrMax = 4096

// ReadVersioned implements journal.VersionedStore: the extended attribute
// first (which gives the object's version), then the data and the omap in
// one read asserting that version. The I/O context is the store's own, so
// its last version is that of this read (a store serves one request).
func (s *ObjectStore) ReadVersioned(ctx context.Context, oid, xattr string, dataLen int, keys []string) (*journal.VersionedObject, error) {
	if err := cancelled(ctx); err != nil {
		return nil, err
	}
	xbuf := make([]byte, xattrMax)
	n, err := s.ioctx.GetXattr(oid, xattr, xbuf)
	if err != nil {
		return nil, translate(err)
	}
	version, err := s.ioctx.GetLastVersion()
	if err != nil {
		return nil, err
	}
	obj := &journal.VersionedObject{Version: version, Xattr: xbuf[:n], Data: make([]byte, dataLen)}
	if err := s.readAt(oid, obj, keys); err != nil {
		return nil, err
	}
	return obj, nil
}

func (s *ObjectStore) readAt(oid string, obj *journal.VersionedObject, keys []string) error {
	op := rados.CreateReadOp()
	defer op.Release()
	op.AssertVersion(obj.Version)
	read := op.Read(0, obj.Data)
	var byKeys *rados.ReadOpOmapGetValsByKeysStep
	var all *rados.GetOmapStep
	if keys != nil {
		byKeys = op.GetOmapValuesByKeys(keys)
	} else {
		all = op.GetOmapValues("", "", omapPage)
	}
	if err := op.Operate(s.ioctx, oid, rados.OperationNoFlag); err != nil {
		return versionErr(err)
	}
	obj.Data = obj.Data[:read.BytesRead]
	obj.Omap = map[string][]byte{}
	for {
		var kv *rados.OmapKeyValue
		var err error
		if byKeys != nil {
			kv, err = byKeys.Next()
		} else {
			kv, err = all.Next()
		}
		if err != nil {
			return translate(err)
		}
		if kv == nil {
			return nil
		}
		obj.Omap[kv.Key] = append([]byte(nil), kv.Value...)
	}
}

// versionErr maps a failed version assertion (ERANGE: the object is newer;
// EOVERFLOW: older) or a vanished object to journal.ErrVersionChanged.
func versionErr(err error) error {
	var coded interface{ ErrorCode() int }
	if errors.As(err, &coded) {
		switch syscall.Errno(-coded.ErrorCode()) {
		case syscall.ERANGE, syscall.EOVERFLOW, syscall.ENOENT:
			return journal.ErrVersionChanged
		}
	}
	if mapped := translate(err); errors.Is(mapped, journal.ErrObjectNotFound) {
		return journal.ErrVersionChanged
	}
	return translate(err)
}

// CreateVersioned implements journal.VersionedStore.
func (s *ObjectStore) CreateVersioned(ctx context.Context, oid, xattr string, xattrValue, data []byte, omap map[string][]byte) error {
	return s.write(ctx, oid, func(op *rados.WriteOp) {
		op.Create(rados.CreateExclusive)
		op.SetXattr(xattr, xattrValue)
		op.SetOmap(omap)
		op.WriteFull(data)
	})
}

// WriteVersioned implements journal.VersionedStore.
func (s *ObjectStore) WriteVersioned(ctx context.Context, oid string, version uint64, w journal.VersionedWrite) error {
	if err := cancelled(ctx); err != nil {
		return err
	}
	op := rados.CreateWriteOp()
	defer op.Release()
	op.AssertVersion(version)
	if w.Delete {
		op.Remove()
	} else {
		op.WriteFull(w.Data)
		if len(w.Remove) > 0 {
			op.RmOmapKeys(w.Remove)
		}
		if len(w.Set) > 0 {
			op.SetOmap(w.Set)
		}
	}
	return versionErr(op.Operate(s.ioctx, oid, rados.OperationNoFlag))
}
