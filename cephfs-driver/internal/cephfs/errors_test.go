package cephfs

import (
	"errors"
	"syscall"
	"testing"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend"
)

func TestKindOf(t *testing.T) {
	for code, want := range map[syscall.Errno]error{
		syscall.ENOENT: backend.ErrNotFound, syscall.EEXIST: backend.ErrExists,
		syscall.EAGAIN: backend.ErrBusy, syscall.ENOTEMPTY: backend.ErrBusy,
		syscall.EINVAL: backend.ErrInvalid, syscall.ENOSPC: backend.ErrNoSpace,
		syscall.EDQUOT: backend.ErrNoSpace, syscall.EMLINK: backend.ErrNoSpace,
		syscall.EPERM: backend.ErrPermission, syscall.EACCES: backend.ErrPermission,
		syscall.ESHUTDOWN: backend.ErrBlocklisted,
	} {
		if got := kindOf(-int(code)); !errors.Is(got, want) {
			t.Errorf("kindOf(-%s) = %v, want %v", code, got, want)
		}
	}
	if got := kindOf(-int(syscall.EIO)); got != nil {
		t.Errorf("kindOf(-EIO) = %v, want nil", got)
	}
}
