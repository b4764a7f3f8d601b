package backend

import (
	"errors"
	"fmt"
	"strings"
)

// Errors every Backend implementation returns (wrapped, with context) so
// that the controller maps them to gRPC codes in one place.
var (
	// ErrNotFound means the image or snapshot does not exist.
	ErrNotFound = errors.New("not found")
	// ErrPoolNotFound means the pool does not exist.
	ErrPoolNotFound = errors.New("pool not found")
	// ErrExists means an object of that name already exists.
	ErrExists = errors.New("already exists")
	// ErrHasSnapshots means the operation needs an image without snapshots.
	ErrHasSnapshots = errors.New("image has snapshots")
	// ErrHasChildren means the operation needs an image without clones.
	ErrHasChildren = errors.New("image has clones")
	// ErrUnavailable means the cluster or a service of it (monitors, mgr)
	// cannot be reached right now; retrying may succeed.
	ErrUnavailable = errors.New("unavailable")
	// ErrInvalid means the cluster refused an argument (e.g. an image
	// feature it does not support).
	ErrInvalid = errors.New("invalid argument")
	// ErrPermission means the Ceph user lacks the capabilities needed.
	ErrPermission = errors.New("permission denied")
)

// WatchersError reports that an image is still in use: mapped on a node or
// opened read-write by another client.
type WatchersError struct {
	// Image names the image.
	Image string
	// Addrs are the watchers' client addresses.
	Addrs []string
}

// Error implements error.
func (e *WatchersError) Error() string {
	return fmt.Sprintf("image %s is in use: it has watchers %s (the watch of a client that is gone lasts "+
		"until the OSD's watch timeout, 30 s; one that stays longer is Ceph Pacific's stale watch: see the "+
		"README, \"A watcher that never goes away\")", e.Image, strings.Join(e.Addrs, ", "))
}

// PoolError returns an error wrapping ErrPoolNotFound that names pool.
func PoolError(pool string) error {
	return fmt.Errorf("pool %q: %w", pool, ErrPoolNotFound)
}
