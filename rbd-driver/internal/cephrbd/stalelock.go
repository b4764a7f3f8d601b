package cephrbd

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"github.com/ceph/go-ceph/rbd"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
)

// An image with the exclusive-lock feature is changed by the holder of its
// managed lock (cls lock "rbd_lock", tag "internal", cookie "auto <watch
// handle>"). When an OSD stops while this driver holds that lock, the close
// of the image cannot release it: the lock stays, owned by this very
// connection but by a handle that no longer exists. librbd then refuses to
// break it for any later handle of the same connection, because breaking a
// lock blocklists its owner and that would be the connection itself
// ("attempting to self-blocklist"); every change of the image answers EROFS
// until the connection is gone. A lock of this connection whose handle
// watches the header no more is such a leftover: it is broken here without
// a blocklisting, and the change tried once more.

const (
	managedLockName   = "rbd_lock"
	managedLockPrefix = "auto "
)

// retryOwnStaleLock runs op; when it fails with EROFS (librbd could not
// take the exclusive lock) and a stale lock of this connection was broken,
// it runs op once more on the same handle.
func (s *session) retryOwnStaleLock(ctx context.Context, img backend.ImageRef, image *rbd.Image, op func() error) error {
	err := op()
	if errno(err) != syscall.EROFS && errno(err) != syscall.EBUSY {
		return err
	}
	broken, own, berr := s.breakOwnStaleLock(ctx, img, image)
	switch {
	case berr != nil:
		return err
	case own && !broken:
		return ownLockError(img, err)
	case !broken:
		return err
	}
	return op()
}

// ownLockError marks a failure while this connection holds the lock
// through a handle whose watch still shows (an OSD that restarted keeps
// the watches of closed handles until its watch timeout, about 30 s):
// transient, the retry after that breaks the lock.
func ownLockError(img backend.ImageRef, err error) error {
	return fmt.Errorf("%w: the exclusive lock of %s is held by a handle of this driver's own connection that an OSD "+
		"outage left behind; it is released once the OSD expires its watch: %w", backend.ErrUnavailable, spec(img), err)
}

// breakOwnStaleLock breaks the image's managed lock when this connection
// owns it through a handle that no longer watches the header; it reports
// whether it broke one, and whether this connection holds a lock at all.
func (s *session) breakOwnStaleLock(ctx context.Context, img backend.ImageRef, image *rbd.Image) (broken, own bool, err error) {
	_, lockers, err := image.ListLockers()
	if err != nil {
		return false, false, s.fail("lockers of "+spec(img), err)
	}
	ws, err := image.ListWatchers()
	if err != nil {
		return false, false, s.fail("watchers of "+spec(img), err)
	}
	self := "client." + strconv.FormatUint(s.conn.GetInstanceID(), 10)
	for _, l := range lockers {
		if l.Client != self {
			continue
		}
		own = true
		if !staleHandle(l, ws) {
			continue
		}
		if err := s.breakLock(ctx, img, image, l); err != nil {
			return broken, own, err
		}
		broken = true
	}
	return broken, own, nil
}

// staleHandle tells whether a managed lock's handle is absent from the
// header's watchers.
func staleHandle(l rbd.Locker, ws []rbd.ImageWatcher) bool {
	handle, ok := strings.CutPrefix(l.Cookie, managedLockPrefix)
	if !ok {
		return false // an advisory lock someone took on purpose
	}
	for _, w := range ws {
		if w.Addr == l.Addr && strconv.FormatUint(w.Cookie, 10) == handle {
			return false
		}
	}
	return true
}

// breakLock removes the lock with a plain cls lock call: rbd_break_lock
// would blocklist the owner, this connection.
func (s *session) breakLock(ctx context.Context, img backend.ImageRef, image *rbd.Image, l rbd.Locker) error {
	io, err := s.ioctx(ctx, img.PoolRef)
	if err != nil {
		return err
	}
	id, err := image.GetId()
	if err != nil {
		return s.fail("image ID of "+spec(img), err)
	}
	if _, err := io.BreakLock("rbd_header."+id, managedLockName, l.Client, l.Cookie); err != nil &&
		errno(err) != syscall.ENOENT {
		return s.fail(fmt.Sprintf("break stale lock %q of %s", l.Cookie, spec(img)), err)
	}
	return nil
}

// retryUnopened is retryOwnStaleLock for the changes librbd makes without
// a handle of ours (rename, move to the trash): the image is opened only
// to look for a stale lock of this connection.
func (s *session) retryUnopened(ctx context.Context, img backend.ImageRef, op func() error) error {
	err := op()
	if errno(err) != syscall.EROFS && errno(err) != syscall.EBUSY {
		return err
	}
	image, oerr := s.openRW(ctx, img)
	if oerr != nil {
		return err
	}
	broken, own, berr := s.breakOwnStaleLock(ctx, img, image)
	if cerr := image.Close(); berr != nil || cerr != nil {
		return err
	}
	if own && !broken {
		return ownLockError(img, err)
	}
	if !broken {
		return err
	}
	return op()
}
