package cephrbd

import (
	"errors"
	"syscall"
	"testing"

	"github.com/ceph/go-ceph/rbd"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
)

func TestStaleHandle(t *testing.T) {
	ws := []rbd.ImageWatcher{{Addr: "127.0.0.1:0/1", Id: 7, Cookie: 42}}
	for _, tc := range []struct {
		l     rbd.Locker
		stale bool
	}{
		{rbd.Locker{Client: "client.7", Cookie: "auto 42", Addr: "127.0.0.1:0/1"}, false}, // its handle watches
		{rbd.Locker{Client: "client.7", Cookie: "auto 43", Addr: "127.0.0.1:0/1"}, true},  // a closed handle
		{rbd.Locker{Client: "client.7", Cookie: "auto 42", Addr: "127.0.0.1:0/2"}, true},  // another instance's address
		{rbd.Locker{Client: "client.7", Cookie: "mine", Addr: "127.0.0.1:0/1"}, false},    // an advisory lock
	} {
		if got := staleHandle(tc.l, ws); got != tc.stale {
			t.Errorf("staleHandle(%+v) = %v, want %v", tc.l, got, tc.stale)
		}
	}
}

func TestOwnLockErrorIsUnavailable(t *testing.T) {
	img := backend.ImageRef{PoolRef: backend.PoolRef{Pool: "p"}, Name: "csi-vol-x"}
	cause := errnoError(-int(syscall.EROFS))
	err := translate("create snapshot", ownLockError(img, cause))
	if !errors.Is(err, backend.ErrUnavailable) || !errors.Is(err, cause) {
		t.Errorf("ownLockError = %v, want unavailable wrapping the cause", err)
	}
}
