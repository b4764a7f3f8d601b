package cephrbd

import (
	"errors"
	"syscall"
	"testing"

	"github.com/ceph/go-ceph/rbd"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
)

// errnoError is an error carrying an errno the way go-ceph's do.
type errnoError int

func (e errnoError) Error() string  { return syscall.Errno(-e).Error() }
func (e errnoError) ErrorCode() int { return int(e) }

func TestTrashErrorConcurrentMoveIsNotFound(t *testing.T) {
	img := backend.ImageRef{PoolRef: backend.PoolRef{Pool: "p"}, Name: "csi-vol-x"}
	stale := errnoError(-int(syscall.ESTALE))
	if err := trashError(img, stale); !errors.Is(err, backend.ErrNotFound) || !errors.Is(err, stale) {
		t.Errorf("trashError(ESTALE) = %v, want not found wrapping the cause", err)
	}
	if err := trashError(img, rbd.ErrNotFound); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("trashError(ENOENT) = %v, want not found", err)
	}
	busy := errnoError(-int(syscall.EBUSY))
	if err := trashError(img, busy); errors.Is(err, backend.ErrNotFound) || !errors.Is(err, backend.ErrHasChildren) {
		t.Errorf("trashError(EBUSY) = %v, want the usual translation", err)
	}
}
