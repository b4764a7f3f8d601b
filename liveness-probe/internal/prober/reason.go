package prober

import (
	"context"
	"errors"
	"io/fs"
	"syscall"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Reason says why a probe failed. The zero value means the probe succeeded.
type Reason string

// Failure reasons, used as the "reason" label of the failures counter.
const (
	ReasonNone        Reason = ""
	ReasonTimeout     Reason = "timeout"
	ReasonNotReady    Reason = "not_ready"
	ReasonUnavailable Reason = "unavailable"
	ReasonError       Reason = "error"
)

// Reasons lists every failure reason, so that counters can be initialised.
func Reasons() []Reason {
	return []Reason{ReasonTimeout, ReasonNotReady, ReasonUnavailable, ReasonError}
}

// Classify maps an RPC error to a failure reason:
//
//   - a context deadline or codes.DeadlineExceeded is a timeout;
//   - codes.Unavailable, connection refused or a missing socket file means the
//     driver is unavailable;
//   - anything else (including codes.Unimplemented from an endpoint that does
//     not implement the CSI Identity service) is an error.
//
// A nil error yields ReasonNone.
func Classify(err error) Reason {
	if err == nil {
		return ReasonNone
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return ReasonTimeout
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) ||
		errors.Is(err, fs.ErrNotExist) {
		return ReasonUnavailable
	}
	if s, ok := status.FromError(err); ok {
		switch s.Code() {
		case codes.DeadlineExceeded:
			return ReasonTimeout
		case codes.Unavailable:
			return ReasonUnavailable
		}
	}
	return ReasonError
}
