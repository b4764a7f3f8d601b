// Package cephrbd is the rbd-driver's one go-ceph adapter: it implements
// backend.Backend over the shared/cephconn connection pool with librbd and
// librados. Nothing else in the module imports go-ceph.
//
// Round trips are kept low: pool name/ID lookups use the client's OSD map
// (no round trip), an I/O context is opened once per pool per session, the
// image ID of a new image is read from its rbd_id object instead of opening
// the image, and an image ID is resolved to its name with one omap read of
// rbd_directory.
package cephrbd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ceph/go-ceph/rados"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/cephconn"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
)

// DefaultMgrTimeout bounds a mgr command (task queueing); librados would
// otherwise wait for an active mgr indefinitely.
const DefaultMgrTimeout = 10 * time.Second

// Options tunes the adapter.
type Options struct {
	// MgrTimeout bounds mgr commands; DefaultMgrTimeout when zero.
	MgrTimeout time.Duration
	// Commands lends the connections that send mgr commands. Their
	// commands must have no librados bound (cephconn.Options.CommandTimeout
	// < 0): with Pacific's librados, the late reply of a mgr command that
	// timed out writes into freed memory and crashes the process. The wait
	// is bounded by MgrTimeout instead, and an abandoned command keeps its
	// connection until Ceph answers. Nil sends mgr commands on the session's
	// connection (tests).
	Commands *cephconn.Pool
}

// Backend implements backend.Backend over a connection pool.
type Backend struct {
	pool *cephconn.Pool
	opts Options
}

var _ backend.Backend = (*Backend)(nil)

// New returns a backend borrowing connections from pool.
func New(pool *cephconn.Pool, opts Options) *Backend {
	if opts.MgrTimeout <= 0 {
		opts.MgrTimeout = DefaultMgrTimeout
	}
	return &Backend{pool: pool, opts: opts}
}

// Connect implements backend.Backend.
func (b *Backend) Connect(ctx context.Context, t backend.Target) (backend.Session, error) {
	target := cephconn.Target{ClusterID: t.ClusterID, Monitors: t.Monitors, Creds: t.Creds}
	conn, err := b.pool.Get(ctx, target)
	if err != nil {
		return nil, unavailable(err)
	}
	return &session{conn: conn, target: target, opts: b.opts, ioctxs: map[backend.PoolRef]*rados.IOContext{}}, nil
}

// fail translates an error of a call on the session's connection (see
// translate); an error that says the cluster blocklisted the connection
// also drops it from the pool and carries cephconn.ErrBlocklisted.
func (s *session) fail(what string, err error) error {
	return s.conn.Check(translate(what, err))
}

// unavailable marks a failure to connect as backend.ErrUnavailable.
func unavailable(err error) error {
	if errors.Is(err, cephconn.ErrConnect) {
		return fmt.Errorf("%w: %w", backend.ErrUnavailable, err)
	}
	return err
}

// session is one request's view of a cluster.
type session struct {
	conn   *cephconn.Conn
	target cephconn.Target
	opts   Options
	ioctxs map[backend.PoolRef]*rados.IOContext
	stores []*cephconn.ObjectStore
}

// Release implements backend.Session.
func (s *session) Release() {
	for _, st := range s.stores {
		st.Destroy()
	}
	s.stores = nil
	for k, io := range s.ioctxs {
		io.Destroy()
		delete(s.ioctxs, k)
	}
	s.conn.Release()
}

// ioctx returns the session's I/O context for p, opening it on first use.
func (s *session) ioctx(ctx context.Context, p backend.PoolRef) (*rados.IOContext, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if io, ok := s.ioctxs[p]; ok {
		return io, nil
	}
	io, err := s.conn.OpenIOContext(p.Pool)
	if err != nil {
		if errors.Is(err, rados.ErrNotFound) {
			return nil, backend.PoolError(p.Pool)
		}
		return nil, s.fail(fmt.Sprintf("open pool %q", p.Pool), err)
	}
	io.SetNamespace(p.Namespace)
	s.ioctxs[p] = io
	return io, nil
}

// PoolID implements backend.Session (from the client's OSD map).
func (s *session) PoolID(ctx context.Context, pool string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	id, err := s.conn.GetPoolByName(pool)
	if errors.Is(err, rados.ErrNotFound) {
		return 0, backend.PoolError(pool)
	}
	if err != nil {
		return 0, s.fail("look up pool "+pool, err)
	}
	return id, nil
}

// PoolName implements backend.Session (from the client's OSD map).
func (s *session) PoolName(ctx context.Context, id int64) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	name, err := s.conn.GetPoolByID(id)
	if errors.Is(err, rados.ErrNotFound) {
		return "", backend.PoolError(fmt.Sprintf("ID %d", id))
	}
	if err != nil {
		return "", s.fail(fmt.Sprintf("look up pool ID %d", id), err)
	}
	return name, nil
}

// Pools implements backend.Session.
func (s *session) Pools(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	names, err := s.conn.ListPools()
	if err != nil {
		return nil, s.fail("list pools", err)
	}
	return names, nil
}

// ObjectStore implements backend.Session.
func (s *session) ObjectStore(ctx context.Context, p backend.PoolRef) (journal.ObjectStore, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	st, err := s.conn.ObjectStore(p.Pool, p.Namespace)
	if errors.Is(err, rados.ErrNotFound) {
		return nil, backend.PoolError(p.Pool)
	}
	if err != nil {
		return nil, s.fail("open journal store", err)
	}
	s.stores = append(s.stores, st)
	return st, nil
}
