package journal

import (
	"context"
	"errors"
)

// Errors returned by ObjectStore implementations. Implementations must return
// (or wrap) exactly these so that the journal can tell the cases apart without
// knowing the backend.
var (
	// ErrObjectNotFound means the named RADOS object does not exist.
	ErrObjectNotFound = errors.New("object not found")
	// ErrObjectExists means an exclusive create found the object present.
	ErrObjectExists = errors.New("object already exists")
	// ErrStoreUnavailable means the store did not answer in time (a stopped
	// OSD or monitor). The operation may or may not have taken effect, so
	// callers report it as retryable and never undo work because of it.
	ErrStoreUnavailable = errors.New("object store unavailable")
	// ErrStoreDenied means the Ceph user may not read or write the pool
	// (EPERM, EACCES): e.g. a pool of another application in the cluster.
	ErrStoreDenied = errors.New("object store access denied")
)

// ObjectStore is the narrow view of one RADOS pool and namespace that the
// journal needs: omap reads and atomic compound writes. The go-ceph adapter
// lives in shared/cephconn; shared/journal/memstore is the in-memory twin used
// for fast tests and fault injection.
//
// Every method is a single RADOS round trip in the go-ceph adapter (ListOmap
// and ListObjects may page). Every write is atomic: either all of it applies
// or none of it does.
type ObjectStore interface {
	// GetOmapValues returns the values of those keys that exist on oid.
	// Keys that are absent are simply missing from the result.
	// A missing object returns ErrObjectNotFound.
	GetOmapValues(ctx context.Context, oid string, keys []string) (map[string]string, error)

	// ListOmap returns every omap pair of oid whose key starts with prefix.
	// A missing object returns ErrObjectNotFound.
	ListOmap(ctx context.Context, oid, prefix string) (map[string]string, error)

	// CreateWithOmap creates oid exclusively and sets pairs on it in one
	// atomic operation. If oid exists it returns ErrObjectExists and writes
	// nothing.
	CreateWithOmap(ctx context.Context, oid string, pairs map[string]string) error

	// SetOmap sets pairs on oid, creating the object when it is missing.
	// Repeating it is harmless.
	SetOmap(ctx context.Context, oid string, pairs map[string]string) error

	// UpdateOmap sets pairs on an existing oid in one atomic operation.
	// A missing object returns ErrObjectNotFound and writes nothing.
	UpdateOmap(ctx context.Context, oid string, pairs map[string]string) error

	// RemoveOmapKeys removes keys from oid. Absent keys and a missing object
	// are not errors.
	RemoveOmapKeys(ctx context.Context, oid string, keys []string) error

	// Remove deletes oid. A missing object is not an error.
	Remove(ctx context.Context, oid string) error

	// ListObjects returns the names of the objects whose name starts with
	// prefix. It is slow on large pools and meant for audits only.
	ListObjects(ctx context.Context, prefix string) ([]string, error)
}
