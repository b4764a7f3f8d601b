package cephrbd

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
)

// errno returns the (positive) errno carried by a go-ceph error, or 0.
func errno(err error) syscall.Errno {
	var coded interface{ ErrorCode() int }
	if errors.As(err, &coded) {
		code := coded.ErrorCode()
		if code < 0 {
			code = -code
		}
		return syscall.Errno(code)
	}
	return 0
}

// translate wraps a go-ceph error with what was being done and the
// backend's typed error for its errno, so that callers test with
// errors.Is(err, backend.ErrNotFound) and the like.
func translate(what string, err error) error {
	if err == nil {
		return nil
	}
	var kind error
	switch errno(err) {
	case syscall.ENOENT:
		kind = backend.ErrNotFound
	case syscall.EEXIST:
		kind = backend.ErrExists
	case syscall.ENOTEMPTY:
		kind = backend.ErrHasSnapshots
	case syscall.EBUSY:
		kind = backend.ErrHasChildren
	case syscall.EINVAL, syscall.ENOSYS, syscall.EOPNOTSUPP, syscall.ERANGE:
		kind = backend.ErrInvalid
	case syscall.EPERM, syscall.EACCES:
		kind = backend.ErrPermission
	case syscall.ETIMEDOUT, syscall.ENOTCONN, syscall.ESHUTDOWN, syscall.EAGAIN, syscall.ECONNREFUSED:
		kind = backend.ErrUnavailable
	}
	if kind == nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s: %w: %w", what, kind, err)
}
