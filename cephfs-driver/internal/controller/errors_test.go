package controller

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
)

// TestBackendOutageCodes: a cluster that does not answer (no connection, or
// a journal operation timed out on a stopped OSD or monitor) is Unavailable
// and never a final failure, so a create is not rolled back for it.
func TestBackendOutageCodes(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("journal: read csi.volume.x: %w", err) }
	for _, tc := range []struct {
		err   error
		code  codes.Code
		final bool
	}{
		{wrap(fmt.Errorf("%w: ret=-110", journal.ErrStoreUnavailable)), codes.Unavailable, false},
		{wrap(backend.ErrConnect), codes.Unavailable, false},
		{&backend.Error{Op: "subvolume info", Kind: backend.ErrBlocklisted, Err: errors.New("ret=-108")}, codes.Unavailable, false},
		{wrap(clusterconfig.ErrConfig), codes.Unavailable, true},
		{wrap(context.DeadlineExceeded), codes.DeadlineExceeded, false},
		{errors.New("anything else"), codes.Internal, true},
	} {
		if got := status.Code(toStatus(tc.err)); got != tc.code {
			t.Errorf("toStatus(%v) = %v, want %v", tc.err, got, tc.code)
		}
		if got := isFinal(tc.err); got != tc.final {
			t.Errorf("isFinal(%v) = %v, want %v", tc.err, got, tc.final)
		}
	}
}
