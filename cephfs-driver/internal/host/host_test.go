package host

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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

// TestMountsUnescapesPaths: mountinfo escapes a space as \040; the mount
// table holds the real path, so a staging path with a space is found.
func TestMountsUnescapesPaths(t *testing.T) {
	info := filepath.Join(t.TempDir(), "mountinfo")
	line := `36 35 0:42 /vol\040dir /tmp/staging\040a\134b rw,relatime - fuse.ceph-fuse ceph-fuse rw` + "\n"
	if err := os.WriteFile(info, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	mounts, err := System{MountInfo: info}.Mounts()
	if err != nil {
		t.Fatal(err)
	}
	if len(mounts) != 1 || mounts[0].Path != `/tmp/staging a\b` || mounts[0].Root != "/vol dir" {
		t.Fatalf("mounts %+v, want path %q root %q", mounts, `/tmp/staging a\b`, "/vol dir")
	}
	if got := unescapeOctal(`a\04`); got != `a\04` {
		t.Fatalf("a truncated escape is changed: %q", got)
	}
}
