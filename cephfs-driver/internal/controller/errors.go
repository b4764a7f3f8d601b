package controller

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
)

// This file is the one place where backend, journal, configuration and
// context errors become gRPC status codes. Handlers return either a status
// error they built for a request-specific reason (a bad field, a missing
// source) or any other error, which toStatus maps here.

// errCloneInProgress marks a clone that is still running when a request
// stops waiting for it; the CO retries and the retry resumes the clone.
var errCloneInProgress = errors.New("clone in progress")

// errCloneFailed marks a clone that Ceph reported as failed.
var errCloneFailed = errors.New("clone failed")

// toStatus returns err as a gRPC status error, mapping the driver's error
// kinds to codes. nil stays nil; a status error is returned unchanged.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(codeOf(err), err.Error())
}

// codeOf picks the gRPC code of a non-status error.
func codeOf(err error) codes.Code {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	case errors.Is(err, errCloneInProgress):
		return codes.Aborted
	case errors.Is(err, errCloneFailed):
		return codes.Internal
	case errors.Is(err, backend.ErrConnect), errors.Is(err, backend.ErrBlocklisted),
		errors.Is(err, journal.ErrStoreUnavailable), errors.Is(err, clusterconfig.ErrConfig):
		return codes.Unavailable
	}
	return backendCode(err)
}

func backendCode(err error) codes.Code {
	switch {
	case errors.Is(err, backend.ErrNotFound), errors.Is(err, journal.ErrNotFound):
		return codes.NotFound
	case errors.Is(err, backend.ErrExists):
		return codes.AlreadyExists
	case errors.Is(err, backend.ErrBusy):
		return codes.FailedPrecondition
	case errors.Is(err, backend.ErrInvalid):
		return codes.InvalidArgument
	case errors.Is(err, backend.ErrNoSpace):
		return codes.ResourceExhausted
	case errors.Is(err, backend.ErrPermission), errors.Is(err, journal.ErrStoreDenied):
		return codes.PermissionDenied
	case errors.Is(err, backend.ErrHalfMade):
		return codes.Aborted // the retry's create repairs it
	}
	return codes.Internal
}

// isFinal reports whether a failed create should be rolled back: not when
// the request merely ran out of time or the clone is still running, since a
// retry resumes from the journal.
func isFinal(err error) bool {
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, errCloneInProgress), errors.Is(err, backend.ErrConnect),
		errors.Is(err, backend.ErrBlocklisted), errors.Is(err, journal.ErrStoreUnavailable),
		errors.Is(err, backend.ErrBusy):
		return false
	}
	if st, ok := status.FromError(err); ok {
		switch st.Code() {
		case codes.Aborted, codes.DeadlineExceeded, codes.Canceled, codes.Unavailable:
			return false
		}
	}
	return true
}

// clusterError turns a cluster lookup failure into a status error naming
// where the cluster ID came from (a parameter or an ID). An unknown cluster
// gets code unknown; a broken configuration file is Unavailable.
func clusterError(err error, where string, unknown codes.Code) error {
	if errors.Is(err, clusterconfig.ErrClusterNotFound) {
		return status.Errorf(unknown, "%s: %v", where, err)
	}
	return status.Errorf(codes.Unavailable, "%s: %v", where, err)
}

// fsError turns a file system lookup failure into a status error.
func fsError(err error, where string, unknown codes.Code) error {
	if errors.Is(err, backend.ErrNotFound) {
		return status.Errorf(unknown, "%s: %v", where, err)
	}
	return toStatus(fmt.Errorf("%s: %w", where, err))
}
