package cephfs

import (
	"errors"
	"syscall"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend"
)

// Negative errno values as Ceph returns them.
const (
	errNotFound     = -int(syscall.ENOENT)
	errExists       = -int(syscall.EEXIST)
	errAgain        = -int(syscall.EAGAIN)
	errNotEmpty     = -int(syscall.ENOTEMPTY)
	errInvalid      = -int(syscall.EINVAL)
	errNoSpace      = -int(syscall.ENOSPC)
	errQuota        = -int(syscall.EDQUOT)
	errTooMany      = -int(syscall.EMLINK) // e.g. the snapshots-per-directory limit
	errPerm         = -int(syscall.EPERM)
	errAccess       = -int(syscall.EACCES)
	errNotSupported = -int(syscall.EOPNOTSUPP)
	errNoData       = -int(syscall.ENODATA)   // a subvolume without its .meta
	errShutdown     = -int(syscall.ESHUTDOWN) // EBLOCKLISTED: the cluster blocklisted the client
)

// coded is implemented by go-ceph's errors (also through the command
// response wrapper, which unwraps to them).
type coded interface{ ErrorCode() int }

// errno returns the Ceph error number of err, or 0.
func errno(err error) int {
	var c coded
	if errors.As(err, &c) {
		return c.ErrorCode()
	}
	return 0
}

// classify wraps a go-ceph error in a *backend.Error of the matching kind.
// The message keeps Ceph's status text, e.g. "subvolume 'x' does not exist".
func classify(op, object string, err error) error {
	if err == nil {
		return nil
	}
	return &backend.Error{Op: op, Object: object, Kind: kindOf(errno(err)), Err: err}
}

func kindOf(code int) error {
	switch code {
	case errNotFound:
		return backend.ErrNotFound
	case errExists:
		return backend.ErrExists
	case errAgain, errNotEmpty:
		return backend.ErrBusy
	case errInvalid:
		return backend.ErrInvalid
	case errNoSpace, errQuota, errTooMany:
		return backend.ErrNoSpace
	case errPerm, errAccess:
		return backend.ErrPermission
	case errNoData:
		return backend.ErrHalfMade
	case errShutdown:
		return backend.ErrBlocklisted
	}
	return nil
}

func ignoreNotFound(err error) error {
	if errors.Is(err, backend.ErrNotFound) {
		return nil
	}
	return err
}
