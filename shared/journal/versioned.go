package journal

import (
	"context"
	"errors"
)

// ErrVersionChanged means a versioned write found the object changed (or
// gone) since the version it was read at; nothing was written. Read again
// and retry.
var ErrVersionChanged = errors.New("object changed since it was read")

// VersionedObject is an object as read at one version.
type VersionedObject struct {
	// Version is the object's RADOS version when read.
	Version uint64
	// Data holds the first bytes of the object's data (at most the length
	// asked for).
	Data []byte
	// Xattr is the value of the extended attribute asked for.
	Xattr []byte
	// Omap holds the values of the omap keys asked for that exist (every
	// key when none were named).
	Omap map[string][]byte
}

// VersionedWrite is one atomic change of an object at a known version.
type VersionedWrite struct {
	// Delete removes the object; the other fields are then ignored.
	Delete bool
	// Data replaces the object's data.
	Data []byte
	// Set and Remove change omap keys.
	Set    map[string][]byte
	Remove []string
}

// VersionedStore is the part of a RADOS namespace that reference trackers
// need (ceph-csi's reftracker layout): objects with data, an extended
// attribute and omap, read at a version and changed only if still at it.
type VersionedStore interface {
	// ReadVersioned reads, at one version, the first dataLen bytes of oid's
	// data, the extended attribute xattr and the omap values of keys (all
	// pairs when keys is nil). A missing object returns ErrObjectNotFound;
	// a change between the reads returns ErrVersionChanged.
	ReadVersioned(ctx context.Context, oid, xattr string, dataLen int, keys []string) (*VersionedObject, error)
	// CreateVersioned creates oid exclusively with the extended attribute,
	// the data and the omap pairs in one atomic operation. An existing
	// object returns ErrObjectExists and nothing is written.
	CreateVersioned(ctx context.Context, oid, xattr string, xattrValue, data []byte, omap map[string][]byte) error
	// WriteVersioned applies w to oid if oid is still at version, else
	// returns ErrVersionChanged and writes nothing.
	WriteVersioned(ctx context.Context, oid string, version uint64, w VersionedWrite) error
}
