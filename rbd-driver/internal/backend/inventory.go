package backend

import (
	"context"
	"time"
)

// Inventory is what the orphan audit (`rbd-driver audit`) needs beyond a
// Session: the images of a pool and their age. Sessions of
// internal/cephrbd implement it; the controller never uses it.
type Inventory interface {
	Session
	// ListImages lists the images of a pool and namespace (not those in
	// the RBD trash). Read-only.
	ListImages(ctx context.Context, p PoolRef) ([]string, error)
	// ImageSince returns when the image got its current name: the later
	// of its creation time and its rename. Missing: ErrNotFound.
	// Read-only.
	ImageSince(ctx context.Context, img ImageRef) (time.Time, error)
	// TrashSnapshots lists the user snapshots of an image in the RBD
	// trash (by ID). Not in the trash or missing: ErrNotFound. Read-only.
	TrashSnapshots(ctx context.Context, p PoolRef, id string) ([]Snapshot, error)
	// RemoveTrashSnapshot removes a user snapshot of an image in the RBD
	// trash. Missing image or snapshot: no error.
	RemoveTrashSnapshot(ctx context.Context, p PoolRef, id, snap string) error
}
