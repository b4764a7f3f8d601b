package cephconn

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/ceph/go-ceph/rados"

	"github.com/seed-6a310834/ceph-csi/shared/journal"
)

// omapPage is how many omap pairs one read returns while listing.
const omapPage = 1000

// ObjectStore is journal.ObjectStore over one pool and RADOS namespace.
// Release it with Destroy.
type ObjectStore struct {
	ioctx *rados.IOContext
	check func(error) error // Conn.Check of a pooled connection, or nil
}

var (
	_ journal.ObjectStore = (*ObjectStore)(nil)
	_ journal.PagedStore  = (*ObjectStore)(nil)
)

// NewObjectStore opens pool (by name) in namespace on conn.
func NewObjectStore(conn *rados.Conn, pool, namespace string) (*ObjectStore, error) {
	ioctx, err := conn.OpenIOContext(pool)
	if err != nil {
		return nil, fmt.Errorf("open pool %q: %w", pool, err)
	}
	ioctx.SetNamespace(namespace)
	return &ObjectStore{ioctx: ioctx}, nil
}

// Destroy releases the I/O context.
func (s *ObjectStore) Destroy() { s.ioctx.Destroy() }

// translate maps go-ceph errors, including errors of compound operations, to
// the journal's sentinel errors.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var opErr rados.OperationError
	if errors.As(err, &opErr) {
		for _, stepErr := range opErr.StepErrors {
			if mapped := translateSimple(stepErr); mapped != stepErr {
				return mapped
			}
		}
		if opErr.OpError != nil {
			if mapped := translateSimple(opErr.OpError); mapped != opErr.OpError {
				return mapped
			}
		}
		return err
	}
	return translateSimple(err)
}

func translateSimple(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, rados.ErrNotFound):
		return journal.ErrObjectNotFound
	case errors.Is(err, rados.ErrObjectExists):
		return journal.ErrObjectExists
	case unanswered(err):
		return fmt.Errorf("%w: %w", journal.ErrStoreUnavailable, err)
	case denied(err):
		return fmt.Errorf("%w: %w", journal.ErrStoreDenied, err)
	}
	return err
}

// fail translates an error of a call on the store's connection.
func (s *ObjectStore) fail(err error) error {
	err = translate(err)
	if s.check != nil {
		err = s.check(err)
	}
	return err
}

// unanswered reports whether err means the cluster did not answer: an
// operation timed out (rados_osd_op_timeout, rados_mon_op_timeout) or the
// connection is gone.
func unanswered(err error) bool {
	var coded interface{ ErrorCode() int }
	if !errors.As(err, &coded) {
		return false
	}
	switch syscall.Errno(-coded.ErrorCode()) {
	case syscall.ETIMEDOUT, syscall.ENOTCONN, syscall.ESHUTDOWN, syscall.ECONNREFUSED:
		return true
	}
	return false
}

// denied reports whether err is EPERM or EACCES: the user's OSD caps do
// not cover the pool.
func denied(err error) bool {
	var coded interface{ ErrorCode() int }
	if !errors.As(err, &coded) {
		return false
	}
	e := syscall.Errno(-coded.ErrorCode())
	return e == syscall.EPERM || e == syscall.EACCES
}

// cancelled returns the context's error, so that a request whose deadline
// has passed does not start another RADOS call.
func cancelled(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return nil
}

// GetOmapValues implements journal.ObjectStore.
func (s *ObjectStore) GetOmapValues(ctx context.Context, oid string, keys []string) (map[string]string, error) {
	if err := cancelled(ctx); err != nil {
		return nil, err
	}
	op := rados.CreateReadOp()
	defer op.Release()
	step := op.GetOmapValuesByKeys(keys)
	if err := op.Operate(s.ioctx, oid, rados.OperationNoFlag); err != nil {
		return nil, s.fail(err)
	}
	out := make(map[string]string, len(keys))
	for {
		kv, err := step.Next()
		if err != nil {
			return nil, s.fail(err)
		}
		if kv == nil {
			return out, nil
		}
		out[kv.Key] = string(kv.Value)
	}
}

// ListOmap implements journal.ObjectStore.
func (s *ObjectStore) ListOmap(ctx context.Context, oid, prefix string) (map[string]string, error) {
	if err := cancelled(ctx); err != nil {
		return nil, err
	}
	raw, err := s.ioctx.GetAllOmapValues(oid, "", prefix, omapPage)
	if err != nil {
		return nil, s.fail(err)
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		out[k] = string(v)
	}
	return out, nil
}

// ListOmapAfter implements journal.PagedStore: one bounded omap read.
func (s *ObjectStore) ListOmapAfter(ctx context.Context, oid, prefix, startAfter string, max int) ([]journal.KV, error) {
	if err := cancelled(ctx); err != nil {
		return nil, err
	}
	raw, err := s.ioctx.GetOmapValues(oid, startAfter, prefix, int64(max))
	if err != nil {
		return nil, s.fail(err)
	}
	m := make(map[string]string, len(raw))
	for k, v := range raw {
		m[k] = string(v)
	}
	return journal.SlicePairs(m, startAfter, max), nil
}

func toBytes(pairs map[string]string) map[string][]byte {
	out := make(map[string][]byte, len(pairs))
	for k, v := range pairs {
		out[k] = []byte(v)
	}
	return out
}

func (s *ObjectStore) write(ctx context.Context, oid string, build func(*rados.WriteOp)) error {
	if err := cancelled(ctx); err != nil {
		return err
	}
	op := rados.CreateWriteOp()
	defer op.Release()
	build(op)
	return s.fail(op.Operate(s.ioctx, oid, rados.OperationNoFlag))
}

// CreateWithOmap implements journal.ObjectStore: one compound operation of
// an exclusive create and the omap write.
func (s *ObjectStore) CreateWithOmap(ctx context.Context, oid string, pairs map[string]string) error {
	return s.write(ctx, oid, func(op *rados.WriteOp) {
		op.Create(rados.CreateExclusive)
		op.SetOmap(toBytes(pairs))
	})
}

// SetOmap implements journal.ObjectStore.
func (s *ObjectStore) SetOmap(ctx context.Context, oid string, pairs map[string]string) error {
	return s.write(ctx, oid, func(op *rados.WriteOp) {
		op.Create(rados.CreateIdempotent)
		op.SetOmap(toBytes(pairs))
	})
}

// UpdateOmap implements journal.ObjectStore: an existence assertion and the
// omap write in one compound operation.
func (s *ObjectStore) UpdateOmap(ctx context.Context, oid string, pairs map[string]string) error {
	return s.write(ctx, oid, func(op *rados.WriteOp) {
		op.AssertExists()
		op.SetOmap(toBytes(pairs))
	})
}

// RemoveOmapKeys implements journal.ObjectStore.
func (s *ObjectStore) RemoveOmapKeys(ctx context.Context, oid string, keys []string) error {
	err := s.write(ctx, oid, func(op *rados.WriteOp) {
		op.AssertExists()
		op.RmOmapKeys(keys)
	})
	if errors.Is(err, journal.ErrObjectNotFound) {
		return nil
	}
	return err
}

// Remove implements journal.ObjectStore.
func (s *ObjectStore) Remove(ctx context.Context, oid string) error {
	if err := cancelled(ctx); err != nil {
		return err
	}
	err := s.fail(s.ioctx.Delete(oid))
	if errors.Is(err, journal.ErrObjectNotFound) {
		return nil
	}
	return err
}

// ListObjects implements journal.ObjectStore. It walks the whole namespace.
func (s *ObjectStore) ListObjects(ctx context.Context, prefix string) ([]string, error) {
	if err := cancelled(ctx); err != nil {
		return nil, err
	}
	var names []string
	err := s.ioctx.ListObjects(func(oid string) {
		if strings.HasPrefix(oid, prefix) {
			names = append(names, oid)
		}
	})
	if err != nil {
		return nil, s.fail(err)
	}
	return names, nil
}

// ModTime returns the time oid was last written (second resolution), for
// audits that must leave young objects alone. A missing object returns
// journal.ErrObjectNotFound.
func (s *ObjectStore) ModTime(ctx context.Context, oid string) (time.Time, error) {
	if err := cancelled(ctx); err != nil {
		return time.Time{}, err
	}
	st, err := s.ioctx.Stat(oid)
	if err != nil {
		return time.Time{}, s.fail(err)
	}
	return st.ModTime, nil
}
