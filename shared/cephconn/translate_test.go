package cephconn

import (
	"errors"
	"syscall"
	"testing"

	"github.com/ceph/go-ceph/rados"

	"github.com/seed-6a310834/ceph-csi/shared/journal"
)

// codedError is an error carrying a Ceph return code, as go-ceph's are.
type codedError int

func (e codedError) Error() string  { return "ret=" + syscall.Errno(-e).Error() }
func (e codedError) ErrorCode() int { return int(e) }

func TestTranslateUnansweredOperations(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"timed out", codedError(-int(syscall.ETIMEDOUT)), journal.ErrStoreUnavailable},
		{"not connected", codedError(-int(syscall.ENOTCONN)), journal.ErrStoreUnavailable},
		{"shut down", codedError(-int(syscall.ESHUTDOWN)), journal.ErrStoreUnavailable},
		{"refused", codedError(-int(syscall.ECONNREFUSED)), journal.ErrStoreUnavailable},
		{"timed out step of a compound write", rados.OperationError{OpError: codedError(-int(syscall.ETIMEDOUT))},
			journal.ErrStoreUnavailable},
		{"missing object", rados.ErrNotFound, journal.ErrObjectNotFound},
		{"I/O error", codedError(-int(syscall.EIO)), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := translate(tc.err)
			if tc.want == nil {
				if got != tc.err {
					t.Fatalf("translate(%v) = %v, want it unchanged", tc.err, got)
				}
				return
			}
			if !errors.Is(got, tc.want) {
				t.Fatalf("translate(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
