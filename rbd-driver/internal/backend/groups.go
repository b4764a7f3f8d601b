package backend

import (
	"context"
	"errors"
)

// ErrInOtherGroup means an image is already a member of another RBD group
// (librbd allows one group per image).
var ErrInOtherGroup = errors.New("image is in another RBD group")

// GroupRef names an RBD group inside a pool and namespace.
type GroupRef struct {
	PoolRef
	Name string
}

// GroupSnapRef names a snapshot of an RBD group.
type GroupSnapRef struct {
	Group GroupRef
	Snap  string
}

// Groups are the RBD groups a volume group snapshot passes through: the
// images are added to a group, the group snapshot takes one snapshot of
// every member in a single librbd operation (crash-consistent across the
// images), and each member's snapshot is then copied (or, where librbd has
// rbd_clone4, cloned) into an image of its own.
type Groups interface {
	// CreateGroup creates an RBD group. An existing group of that name is
	// not an error. Idempotent.
	CreateGroup(ctx context.Context, g GroupRef) error
	// AddGroupImage adds an image of g's pool to g. Already a member of
	// g: no error. A member of another group: ErrInOtherGroup. Missing
	// image or group: ErrNotFound.
	AddGroupImage(ctx context.Context, g GroupRef, img ImageRef) error
	// RemoveGroupImage takes an image out of g. An image that is no member,
	// a missing image or a missing group: no error. Idempotent.
	RemoveGroupImage(ctx context.Context, g GroupRef, img ImageRef) error
	// RemoveGroup removes g (with its snapshots; the images stay). Missing:
	// no error. Idempotent.
	RemoveGroup(ctx context.Context, g GroupRef) error
	// ListGroups lists the RBD groups of a pool and namespace. Read-only.
	ListGroups(ctx context.Context, p PoolRef) ([]string, error)
	// CreateGroupSnapshot snapshots every member of g at once. A complete
	// snapshot of that name is not an error; an incomplete one (a creation
	// that died) is removed and taken again. Missing group: ErrNotFound.
	CreateGroupSnapshot(ctx context.Context, s GroupSnapRef) error
	// RemoveGroupSnapshot removes a group snapshot and its member
	// snapshots. Missing group or snapshot: no error. Idempotent.
	RemoveGroupSnapshot(ctx context.Context, s GroupSnapRef) error
	// GroupSnapshots lists the snapshot names of g. Missing group:
	// ErrNotFound. Read-only.
	GroupSnapshots(ctx context.Context, g GroupRef) ([]string, error)
	// ImageFromGroupSnapshot creates dst (in img's pool) holding img's
	// content at the group snapshot s, and returns dst's ID: a clone of
	// the member snapshot where librbd has rbd_clone4 (Reef and later),
	// else a full copy of it (Pacific). Existing dst: ErrExists (nothing
	// changed). Missing image, or img has no snapshot of s: ErrNotFound.
	// A copy interrupted by a crash leaves dst incomplete: the caller
	// knows a finished dst by the snapshot it takes of it afterwards.
	ImageFromGroupSnapshot(ctx context.Context, s GroupSnapRef, img ImageRef, dst string, opts ImageOptions) (string, error)
}
