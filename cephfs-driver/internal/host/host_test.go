package host

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"testing"
)

// TestDeadMountErrors: the errors a mount whose FUSE daemon died returns
// (ENOTCONN, and ECONNABORTED for the calls in flight when it died) mark
// it dead; a missing path or a permission problem of the caller does not.
func TestDeadMountErrors(t *testing.T) {
	stat := func(errno syscall.Errno) error { return &os.PathError{Op: "stat", Path: "/t", Err: errno} }
	for _, tc := range []struct {
		err  error
		dead bool
	}{
		{stat(syscall.ENOTCONN), true},
		{stat(syscall.ECONNABORTED), true},
		{stat(syscall.ESTALE), true},
		{stat(syscall.ENOENT), false},
		{fs.ErrPermission, false},
	} {
		if got := deadMount(tc.err); got != tc.dead {
			t.Errorf("deadMount(%v) = %v, want %v", tc.err, got, tc.dead)
		}
		if got := IsCorrupted(fmt.Errorf("%w: %w", ErrCorrupted, tc.err)); tc.dead && !got {
			t.Errorf("IsCorrupted(Check's error for %v) = false", tc.err)
		}
	}
	if !IsCorrupted(stat(syscall.ECONNABORTED)) || !IsCorrupted(stat(syscall.ENOTCONN)) {
		t.Error("IsCorrupted does not recognise a raw dead-mount error")
	}
}
