package controller

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/cephconn"
	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
)

func TestToStatus(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("doing something: %w", err) }
	tests := []struct {
		err  error
		code codes.Code
	}{
		{wrap(cephconn.ErrConnect), codes.Unavailable},
		{wrap(cephconn.ErrBlocklisted), codes.Unavailable},
		{wrap(backend.ErrUnavailable), codes.Unavailable},
		{wrap(journal.ErrStoreUnavailable), codes.Unavailable},
		{wrap(clusterconfig.ErrConfig), codes.Unavailable},
		{wrap(context.DeadlineExceeded), codes.DeadlineExceeded},
		{wrap(context.Canceled), codes.Canceled},
		{wrap(&backend.WatchersError{Image: "img", Addrs: []string{"1.2.3.4:0/1"}}), codes.FailedPrecondition},
		{wrap(backend.ErrHasSnapshots), codes.FailedPrecondition},
		{wrap(backend.ErrHasChildren), codes.FailedPrecondition},
		{wrap(backend.ErrNotFound), codes.NotFound},
		{wrap(journal.ErrNotFound), codes.NotFound},
		{wrap(backend.ErrExists), codes.AlreadyExists},
		{wrap(backend.ErrInvalid), codes.InvalidArgument},
		{wrap(backend.ErrPermission), codes.PermissionDenied},
		{wrap(journal.ErrCorrupt), codes.Internal},
		{errors.New("anything"), codes.Internal},
		{status.Error(codes.Aborted, "busy"), codes.Aborted},
		{invalidArg("f", "bad"), codes.InvalidArgument},
		{lookupError(fromParameters, "parameters.pool", backend.PoolError("x")), codes.InvalidArgument},
		{lookupError(fromID, "volume_id", backend.PoolError("x")), codes.NotFound},
		{lookupError(fromParameters, "parameters.clusterID", wrap(clusterconfig.ErrClusterNotFound)), codes.InvalidArgument},
		{lookupError(fromID, "volume_id", wrap(clusterconfig.ErrClusterNotFound)), codes.NotFound},
		{lookupError(fromID, "volume_id", wrap(backend.ErrUnavailable)), codes.Unavailable},
	}
	for _, tc := range tests {
		if got := status.Code(toStatus(tc.err)); got != tc.code {
			t.Errorf("toStatus(%v) = %v, want %v", tc.err, got, tc.code)
		}
	}
	if toStatus(nil) != nil {
		t.Error("toStatus(nil) != nil")
	}
}
