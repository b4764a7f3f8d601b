// Package backend is the narrow storage interface the RBD controller uses:
// pools, images, snapshots, clones, the RBD trash and pool statistics, plus
// the typed errors every implementation returns. internal/cephrbd implements
// it over go-ceph; backend/fake implements it in memory for unit tests.
//
// The store contract (documented per method, in the style of
// csi-driver-host-path's state store): every method says what it returns
// for a missing object and whether repeating it is harmless. Callers rely on
// exactly these errors, never on an implementation's own.
package backend

import (
	"context"
	"time"

	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
)

// Target names a cluster and the user to reach it as.
type Target struct {
	// ClusterID is the cluster's ID in the cluster configuration.
	ClusterID string
	// Monitors are the cluster's monitor addresses.
	Monitors []string
	// Creds are the Ceph user's credentials.
	Creds *credentials.Credentials
}

// Backend opens sessions on clusters. Implementations share connections
// between sessions; a Session is cheap.
type Backend interface {
	// Connect returns a session on t's cluster as t's user. A cluster that
	// cannot be reached gives an error wrapping ErrUnavailable (or the
	// context's error when ctx ended first).
	Connect(ctx context.Context, t Target) (Session, error)
}

// PoolRef names a pool and a RADOS namespace in it ("" is the default
// namespace).
type PoolRef struct {
	Pool      string
	Namespace string
}

// ImageRef names an image by name inside a pool and namespace.
type ImageRef struct {
	PoolRef
	Name string
}

// SnapRef names a snapshot of an image.
type SnapRef struct {
	Image ImageRef
	Snap  string
}

// ImageOptions describe an image to create.
type ImageOptions struct {
	// Size is the size in bytes.
	Size uint64
	// Features are librbd feature names (layering, exclusive-lock, ...);
	// none: the cluster's rbd_default_features.
	Features []string
	// DataPool is the optional data pool.
	DataPool string
	// ObjectSize is the object size in bytes, a power of 2 (0: 4 MiB).
	ObjectSize uint64
	// StripeUnit and StripeCount set fancy striping (0: none).
	StripeUnit  uint64
	StripeCount uint64
}

// Snapshot describes an RBD snapshot in the user namespace.
type Snapshot struct {
	ID      uint64
	Name    string
	Size    uint64
	Created time.Time
}

// ImageStatus is what one read-only open of an image tells.
type ImageStatus struct {
	ID   string
	Name string
	Size uint64
	// Watchers are the addresses of the clients watching the image
	// (mapped or open read-write elsewhere).
	Watchers []string
	// OwnWatchers counts the Watchers that are this process's own
	// connection: an operation of its own in progress, or the watch of a
	// handle it closed while an OSD was down, which the OSD keeps until
	// its watch timeout. Neither means that a workload uses the image.
	OwnWatchers int
	// Snapshots are the image's user snapshots (not the trash namespace
	// snapshots clone v2 keeps for children of removed snapshots).
	Snapshots []Snapshot
	// HasParent is true for a clone that is not flattened.
	HasParent bool
	// Created is the image's creation time.
	Created time.Time
	// ParentImage is the name of the parent image of such a clone.
	ParentImage string
}

// TrashEntry is an image in the RBD trash.
type TrashEntry struct {
	ID   string
	Name string
}

// PurgeResult says how PurgeTrash handled an image.
type PurgeResult int

const (
	// PurgeQueued means the mgr rbd_support module removes the image in
	// the background (it retries while the image still has snapshots).
	PurgeQueued PurgeResult = iota
	// PurgeRemoved means the image was removed synchronously.
	PurgeRemoved
	// PurgeDeferred means the mgr is unavailable and the image could not
	// be removed yet (e.g. it still has trash snapshots with children); it
	// stays in the RBD trash.
	PurgeDeferred
)

// Session is one request's view of a cluster. It is not safe for concurrent
// use; Release it when the request ends.
//
// Unless a method says otherwise: a missing pool gives an error wrapping
// ErrPoolNotFound, an unreachable cluster one wrapping ErrUnavailable, and
// a context that already ended its error, before any cluster call.
type Session interface {
	Partials
	TrashMoves
	RenameLeftovers
	Groups

	// Release frees the session's resources. Calling it twice is harmless.
	Release()

	// PoolID returns the ID of a pool. Missing: ErrPoolNotFound. Read-only.
	PoolID(ctx context.Context, pool string) (int64, error)
	// PoolName returns the name of a pool ID. Missing: ErrPoolNotFound.
	PoolName(ctx context.Context, id int64) (string, error)
	// Pools lists the cluster's pool names. Read-only.
	Pools(ctx context.Context) ([]string, error)
	// ObjectStore returns the journal store of a pool and namespace, valid
	// until Release. Missing pool: ErrPoolNotFound.
	ObjectStore(ctx context.Context, p PoolRef) (journal.ObjectStore, error)

	// CreateImage creates an image and returns its ID. An existing image
	// of that name: ErrExists (nothing changed). Unknown data pool:
	// ErrPoolNotFound.
	CreateImage(ctx context.Context, img ImageRef, opts ImageOptions) (string, error)
	// CloneImage creates child as a clone v2 of parent and returns the
	// child's ID; opts.Size is ignored (a clone has its parent's size).
	// Missing parent image or snapshot: ErrNotFound. Existing child:
	// ErrExists (nothing changed).
	CloneImage(ctx context.Context, parent SnapRef, child ImageRef, opts ImageOptions) (string, error)
	// ImageID returns the ID of the image called img.Name. Missing (or in
	// the RBD trash): ErrNotFound. Read-only, one round trip.
	ImageID(ctx context.Context, img ImageRef) (string, error)
	// ImageName returns the current name of the image with the given ID.
	// Missing or in the RBD trash: ErrNotFound. Read-only, one round trip.
	ImageName(ctx context.Context, p PoolRef, id string) (string, error)
	// Stat opens the image read-only and reports its status. Missing:
	// ErrNotFound. Read-only.
	Stat(ctx context.Context, img ImageRef) (*ImageStatus, error)
	// Depth returns the number of ancestors of the image (snap == "") or
	// of one of its snapshots: 0 for an image that is no clone. Missing
	// image or snapshot: ErrNotFound. A flatten that ends during the walk
	// restarts it (the answer is the depth before or after the flatten); a
	// chain that keeps changing: ErrUnavailable. Read-only; one open per
	// ancestor.
	Depth(ctx context.Context, img ImageRef, snap string) (int, error)
	// Resize grows the image to size bytes and returns its size after
	// the call; an image already at least that large is left alone.
	// Missing: ErrNotFound. Idempotent.
	Resize(ctx context.Context, img ImageRef, size uint64) (uint64, error)
	// Rename renames the image. Missing: ErrNotFound; newName taken:
	// ErrExists.
	Rename(ctx context.Context, img ImageRef, newName string) error
	// SetMetadata sets image metadata pairs. Missing: ErrNotFound.
	// Idempotent.
	SetMetadata(ctx context.Context, img ImageRef, kv map[string]string) error
	// Metadata returns every image metadata pair (including the conf_*
	// keys `rbd config image set` writes). Missing: ErrNotFound. Read-only.
	Metadata(ctx context.Context, img ImageRef) (map[string]string, error)
	// RemoveMetadata removes image metadata keys; absent keys are not an
	// error. Missing image: ErrNotFound. Idempotent.
	RemoveMetadata(ctx context.Context, img ImageRef, keys []string) error

	// Trash moves the image to the RBD trash (it stays readable for its
	// clones). Missing: ErrNotFound.
	Trash(ctx context.Context, img ImageRef) error
	// PurgeTrash removes a trashed image: it queues `rbd task add trash
	// remove` on the mgr and, when the mgr cannot take the task, removes
	// it synchronously. An image no longer in the trash is not an error.
	PurgeTrash(ctx context.Context, p PoolRef, id string) (PurgeResult, error)
	// TrashList lists the images in the RBD trash of a pool and namespace.
	// Read-only, one round trip.
	TrashList(ctx context.Context, p PoolRef) ([]TrashEntry, error)
	// QueueFlatten asks the mgr to flatten the image in the background.
	// Already flat or already queued: no error. Missing: ErrNotFound; mgr
	// unavailable: ErrUnavailable.
	QueueFlatten(ctx context.Context, img ImageRef) error

	// CreateSnapshot creates a user snapshot and returns it. An existing
	// snapshot of that name: ErrExists. Missing image: ErrNotFound.
	CreateSnapshot(ctx context.Context, s SnapRef) (*Snapshot, error)
	// SnapshotInfo describes a user snapshot. Missing image or snapshot:
	// ErrNotFound. Read-only.
	SnapshotInfo(ctx context.Context, s SnapRef) (*Snapshot, error)
	// RemoveSnapshot removes a user snapshot; with clone v2 a snapshot
	// that has children moves to the trash namespace and disappears with
	// its last child. Missing image or snapshot: no error. Idempotent.
	RemoveSnapshot(ctx context.Context, s SnapRef) error

	// AvailableBytes returns how many bytes can still be written to pool
	// (the `ceph df` max_avail), or to the whole cluster for pool "".
	// Missing pool: ErrPoolNotFound. Read-only.
	AvailableBytes(ctx context.Context, pool string) (int64, error)
}
