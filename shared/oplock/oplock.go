// Package oplock provides per-identifier operation locks. A CSI driver takes
// a lock on the volume name or ID (and related keys) at the start of an RPC,
// so that a second concurrent operation on the same object fails at once with
// codes.Aborted, as the CSI specification allows, instead of racing the first.
package oplock

import (
	"fmt"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Kinds of keys the drivers lock.
const (
	KindVolumeName   = "volume-name"
	KindVolumeID     = "volume-id"
	KindSnapshotName = "snapshot-name"
	KindSnapshotID   = "snapshot-id"
	KindTargetPath   = "target-path"
	// KindGroupSnapshotName and KindGroupSnapshotID lock volume group
	// snapshots by CSI request name and by CSI ID.
	KindGroupSnapshotName = "group-snapshot-name"
	KindGroupSnapshotID   = "group-snapshot-id"
	// KindImage is a backend image (pool/ID): for steps of different
	// requests that must not interleave on one image.
	KindImage = "image"
)

// Key identifies one lockable object: what kind of identifier it is and the
// identifier itself.
type Key struct {
	// Kind says what ID is, e.g. KindVolumeID.
	Kind string
	// ID is the name, ID or path.
	ID string
}

// String returns the key as used in error messages: the kind followed by
// the quoted ID, e.g. `volume-id "X"`.
func (k Key) String() string {
	return fmt.Sprintf("%s %q", k.Kind, k.ID)
}

// Locks is a set of held keys. The zero value is ready to use. A Locks must
// not be copied after first use.
type Locks struct {
	mu   sync.Mutex
	held map[Key]struct{}
}

// New returns an empty Locks.
func New() *Locks {
	return &Locks{}
}

// TryAcquire takes all the keys, or none of them if any is already held.
// A key listed more than once is taken once. On success it returns a release
// function that frees the keys; calling it more than once is harmless.
func (l *Locks) TryAcquire(keys ...Key) (release func(), ok bool) {
	release, _, ok = l.tryAcquire(keys)

	return release, ok
}

// Acquire is TryAcquire that reports contention as a gRPC status error with
// code Aborted, naming the key that is already held.
func (l *Locks) Acquire(keys ...Key) (release func(), err error) {
	release, conflict, ok := l.tryAcquire(keys)
	if !ok {
		return nil, status.Errorf(codes.Aborted,
			"an operation on %s is already in progress", conflict)
	}

	return release, nil
}

// Held reports whether key is currently held.
func (l *Locks) Held(key Key) bool {
	l.mu.Lock()
	defer l.mu.Unlock()

	_, held := l.held[key]

	return held
}

// tryAcquire takes all keys or, if one is held, none and returns that one.
func (l *Locks) tryAcquire(keys []Key) (func(), Key, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()

	for _, k := range keys {
		if _, held := l.held[k]; held {
			return nil, k, false
		}
	}

	if l.held == nil {
		l.held = make(map[Key]struct{})
	}

	taken := make([]Key, 0, len(keys))

	for _, k := range keys {
		if _, dup := l.held[k]; !dup {
			l.held[k] = struct{}{}
			taken = append(taken, k)
		}
	}

	var once sync.Once

	return func() { once.Do(func() { l.release(taken) }) }, Key{}, true
}

func (l *Locks) release(keys []Key) {
	l.mu.Lock()
	defer l.mu.Unlock()

	for _, k := range keys {
		delete(l.held, k)
	}
}
