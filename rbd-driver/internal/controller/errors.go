package controller

// This file is the one place where errors of the backend, the journal, the
// cluster configuration and the connection pool become gRPC status codes.
// Validation code creates its InvalidArgument/NotFound errors through the
// helpers below too, so every message names the request field at fault.

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/cephconn"
	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
)

// fieldError is an error about one request field (or parameter).
type fieldError struct {
	code  codes.Code
	field string
	msg   string
	cause error
}

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

// Unwrap returns the error behind a lookup failure, if any.
func (e *fieldError) Unwrap() error { return e.cause }

// invalidArg returns an InvalidArgument error naming field.
func invalidArg(field, format string, args ...any) error {
	return &fieldError{code: codes.InvalidArgument, field: field, msg: fmt.Sprintf(format, args...)}
}

// notFound returns a NotFound error naming field.
func notFound(field, format string, args ...any) error {
	return &fieldError{code: codes.NotFound, field: field, msg: fmt.Sprintf(format, args...)}
}

// alreadyExists returns an AlreadyExists error naming field.
func alreadyExists(field, format string, args ...any) error {
	return &fieldError{code: codes.AlreadyExists, field: field, msg: fmt.Sprintf(format, args...)}
}

// outOfRange returns an OutOfRange error naming field.
func outOfRange(field, msg string) error {
	return &fieldError{code: codes.OutOfRange, field: field, msg: msg}
}

// origin says where a cluster ID or pool came from: the request's
// parameters (a bad value is the caller's InvalidArgument) or an existing
// volume or snapshot ID (a bad value means the object cannot exist).
type origin int

const (
	fromParameters origin = iota
	fromID
)

// lookupError turns the failure to find a cluster or pool named by field
// into the code the CSI spec prescribes for its origin. Other errors pass.
func lookupError(o origin, field string, err error) error {
	missing := errors.Is(err, clusterconfig.ErrClusterNotFound) || errors.Is(err, backend.ErrPoolNotFound)
	code := codes.NotFound
	switch {
	case !missing:
		return err
	case o == fromParameters:
		code = codes.InvalidArgument
	}
	return &fieldError{code: code, field: field, msg: err.Error(), cause: err}
}

// isNotFound reports whether err means the object does not exist.
func isNotFound(err error) bool {
	var fe *fieldError
	if errors.As(err, &fe) {
		return fe.code == codes.NotFound
	}
	return errors.Is(err, backend.ErrNotFound) || errors.Is(err, journal.ErrNotFound) ||
		errors.Is(err, backend.ErrPoolNotFound)
}

// toStatus maps any error of the controller to a gRPC status error.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(codeOf(err), err.Error())
}

func codeOf(err error) codes.Code {
	var fe *fieldError
	var we *backend.WatchersError
	switch {
	case errors.As(err, &fe):
		return fe.code
	case errors.As(err, &we):
		return codes.FailedPrecondition
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	}
	for _, m := range codeTable {
		if errors.Is(err, m.err) {
			return m.code
		}
	}
	return codes.Internal
}

// codeTable maps sentinel errors to codes, first match wins.
var codeTable = []struct {
	err  error
	code codes.Code
}{
	{cephconn.ErrConnect, codes.Unavailable},
	{cephconn.ErrBlocklisted, codes.Unavailable}, // the connection is dropped; the retry reconnects
	{backend.ErrUnavailable, codes.Unavailable},
	{journal.ErrStoreUnavailable, codes.Unavailable},
	{journal.ErrStoreDenied, codes.PermissionDenied},
	{clusterconfig.ErrConfig, codes.Unavailable},
	{clusterconfig.ErrClusterNotFound, codes.NotFound},
	{backend.ErrHasSnapshots, codes.FailedPrecondition},
	{backend.ErrHasChildren, codes.FailedPrecondition},
	{backend.ErrInOtherGroup, codes.FailedPrecondition},
	{backend.ErrPoolNotFound, codes.NotFound},
	{backend.ErrNotFound, codes.NotFound},
	{journal.ErrNotFound, codes.NotFound},
	{backend.ErrExists, codes.AlreadyExists},
	{backend.ErrInvalid, codes.InvalidArgument},
	{backend.ErrPermission, codes.PermissionDenied},
	{journal.ErrCorrupt, codes.Internal},
}
