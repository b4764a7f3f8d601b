// Package backend defines the narrow view of a Ceph cluster that the CephFS
// controller needs: file systems, subvolume groups, subvolumes, their
// snapshots and clones, and pool capacity. internal/cephfs implements it
// over go-ceph; Fake implements it in memory for unit tests.
//
// Errors are typed: every method returns (or wraps) one of the sentinel
// errors below when the condition applies, so that callers never parse Ceph
// messages. Each method documents its not-found and idempotency contract.
package backend

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
)

// Sentinel errors. Implementations wrap them in an *Error.
var (
	// ErrNotFound: the file system, group, subvolume or snapshot is missing.
	ErrNotFound = errors.New("not found")
	// ErrExists: the object to create exists already (only where a method
	// says so; most creates are idempotent instead).
	ErrExists = errors.New("already exists")
	// ErrBusy: the operation cannot run now, e.g. a snapshot with pending
	// clones or a clone still in progress (Ceph's EAGAIN).
	ErrBusy = errors.New("busy")
	// ErrInvalid: Ceph rejected an argument (e.g. an unknown pool layout).
	ErrInvalid = errors.New("invalid argument")
	// ErrNoSpace: out of space, over quota or over a count limit (such as
	// snapshots per subvolume).
	ErrNoSpace = errors.New("no space")
	// ErrPermission: the credentials lack the capabilities.
	ErrPermission = errors.New("permission denied")
	// ErrHalfMade: the subvolume is listed but its metadata is missing
	// (Ceph's ENODATA): a create cut off inside the mgr. Creating it again
	// or removing it repairs it.
	ErrHalfMade = errors.New("half-made: metadata missing")
	// ErrBlocklisted: the cluster blocklisted the session's connection
	// (Ceph's ESHUTDOWN, e.g. fencing by `ceph osd blocklist add`). The
	// adapter drops the connection; the next request opens a fresh one.
	ErrBlocklisted = errors.New("connection blocklisted by the cluster")
)

// Error is a backend failure: the operation, the object and the sentinel
// kind, plus Ceph's own message.
type Error struct {
	// Op names the operation, e.g. "create subvolume".
	Op string
	// Object names what it was applied to, e.g. "cephfs/csi/csi-vol-x".
	Object string
	// Kind is one of the sentinel errors, or nil for an unclassified error.
	Kind error
	// Err is the underlying error.
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	return fmt.Sprintf("%s %s: %v", e.Op, e.Object, e.Err)
}

// Unwrap exposes both the sentinel kind and the underlying error.
func (e *Error) Unwrap() []error {
	if e.Kind == nil {
		return []error{e.Err}
	}
	return []error{e.Kind, e.Err}
}

// FileSystem describes a CephFS file system.
type FileSystem struct {
	// Name is the file system (volume) name.
	Name string
	// ID is the file system ID (fscid); it is the location field of the
	// CSI volume ID.
	ID int64
	// MetadataPool holds the journal.
	MetadataPool string
	// DataPools lists the data pools, the default one first.
	DataPools []string
}

// SubvolumeRef names a subvolume.
type SubvolumeRef struct {
	FS    string
	Group string
	Name  string
}

// String returns fs/group/name.
func (r SubvolumeRef) String() string { return r.FS + "/" + r.Group + "/" + r.Name }

// SnapshotRef names a subvolume snapshot.
type SnapshotRef struct {
	SubvolumeRef
	Snapshot string
}

// String returns fs/group/subvolume@snapshot.
func (r SnapshotRef) String() string { return r.SubvolumeRef.String() + "@" + r.Snapshot }

// CreateOptions are the settings of a new subvolume.
type CreateOptions struct {
	// Size is the quota in bytes; 0 means no quota.
	Size int64
	// Pool is the data pool layout; "" means the file system's default.
	Pool string
}

// SubvolumeState is a subvolume's state as Ceph reports it.
type SubvolumeState string

// Subvolume states used by the driver.
const (
	StateComplete  SubvolumeState = "complete"
	StateRetained  SubvolumeState = "snapshot-retained"
	StatePending   SubvolumeState = "pending"
	StateCloning   SubvolumeState = "in-progress"
	StateFailed    SubvolumeState = "failed"
	StateCancelled SubvolumeState = "canceled"
)

// SubvolumeInfo is what the driver reads about a subvolume.
type SubvolumeInfo struct {
	// Path is the subvolume's path from the file system root.
	Path string
	// State is complete, snapshot-retained, or a clone state.
	State SubvolumeState
	// Quota is the byte quota; 0 means none.
	Quota int64
	// Used is the number of bytes used.
	Used int64
	// DataPool is the data pool the subvolume's files go to.
	DataPool string
	// CreatedAt is when the subvolume was created.
	CreatedAt time.Time
}

// SnapshotInfo is what the driver reads about a snapshot.
type SnapshotInfo struct {
	// CreatedAt is when the snapshot was taken.
	CreatedAt time.Time
	// HasPendingClones reports clones from it still running.
	HasPendingClones bool
	// Size is the snapshot's recursive byte count (Ceph's "size").
	Size int64
}

// CloneState is the state of a clone.
type CloneState string

// Clone states, as Ceph names them.
const (
	ClonePending    CloneState = "pending"
	CloneInProgress CloneState = "in-progress"
	CloneComplete   CloneState = "complete"
	CloneFailed     CloneState = "failed"
	CloneCancelled  CloneState = "canceled"
)

// CloneStatus reports a clone's progress.
type CloneStatus struct {
	State CloneState
	// Failure is Ceph's reason for a failed clone ("" otherwise).
	Failure string
}

// Done reports whether the clone will not change state any more.
func (s CloneStatus) Done() bool {
	return s.State == CloneComplete || s.State == CloneFailed || s.State == CloneCancelled
}

// PoolUsage is a data pool's space.
type PoolUsage struct {
	// Available is the number of bytes that can still be written.
	Available int64
	// Used is the number of bytes stored.
	Used int64
}

// Backend is one cluster as seen by one user. Methods check ctx before they
// start; the Ceph calls themselves cannot be cancelled midway.
type Backend interface {
	// FileSystems lists every file system. Read-only.
	FileSystems(ctx context.Context) ([]FileSystem, error)

	// CreateGroup creates a subvolume group. An existing group is success.
	// A missing file system gives ErrNotFound.
	CreateGroup(ctx context.Context, fs, group string) error
	// RemoveGroup removes an empty group. A missing group is success; a
	// group that still holds subvolumes gives ErrBusy.
	RemoveGroup(ctx context.Context, fs, group string) error

	// CreateSubvolume creates a subvolume. An existing subvolume is success
	// (Ceph applies the size). A missing group or file system gives
	// ErrNotFound; a bad pool gives ErrInvalid.
	CreateSubvolume(ctx context.Context, ref SubvolumeRef, opts CreateOptions) error
	// SubvolumePath returns the path of a subvolume. Missing, or removed
	// with retained snapshots: ErrNotFound.
	SubvolumePath(ctx context.Context, ref SubvolumeRef) (string, error)
	// SubvolumeInfo describes a subvolume. Missing: ErrNotFound. A
	// subvolume removed with retained snapshots reports StateRetained.
	SubvolumeInfo(ctx context.Context, ref SubvolumeRef) (*SubvolumeInfo, error)
	// ResizeSubvolume sets the quota to size bytes, refusing to go below the
	// bytes in use. Missing: ErrNotFound. Repeating it is harmless.
	ResizeSubvolume(ctx context.Context, ref SubvolumeRef, size int64) error
	// RemoveSubvolume removes a subvolume, retaining its snapshots if it
	// has any (the subvolume then lingers in StateRetained until its last
	// snapshot is removed). force also removes clones that failed or were
	// cancelled. Missing: success. A clone in progress: ErrBusy.
	RemoveSubvolume(ctx context.Context, ref SubvolumeRef, force bool) error
	// ListSubvolumes lists the subvolumes of a group (retained ones too).
	// A missing group gives ErrNotFound.
	ListSubvolumes(ctx context.Context, fs, group string) ([]string, error)

	// CreateSnapshot snapshots a subvolume. An existing snapshot of that
	// name is success. Missing subvolume: ErrNotFound.
	CreateSnapshot(ctx context.Context, ref SnapshotRef) error
	// SnapshotInfo describes a snapshot. Missing: ErrNotFound.
	SnapshotInfo(ctx context.Context, ref SnapshotRef) (*SnapshotInfo, error)
	// RemoveSnapshot removes a snapshot. A missing snapshot or subvolume is
	// success; pending clones give ErrBusy. Removing the last snapshot of a
	// retained subvolume makes Ceph remove the subvolume.
	RemoveSnapshot(ctx context.Context, ref SnapshotRef) error
	// ListSnapshots lists a subvolume's snapshots. Missing: ErrNotFound.
	ListSnapshots(ctx context.Context, ref SubvolumeRef) ([]string, error)

	// CloneSnapshot starts cloning a snapshot into a new subvolume named
	// target in the snapshot's own group. pool is the clone's data pool
	// layout ("" for the source's). Missing source: ErrNotFound; target
	// exists: ErrExists (the caller checks CloneStatus to resume).
	CloneSnapshot(ctx context.Context, src SnapshotRef, target, pool string) error
	// CloneStatus reports a clone's state. A subvolume that is not a clone
	// reports CloneComplete. Missing: ErrNotFound.
	CloneStatus(ctx context.Context, ref SubvolumeRef) (*CloneStatus, error)
	// CancelClone stops a pending or running clone. A finished clone or a
	// missing subvolume is success.
	CancelClone(ctx context.Context, ref SubvolumeRef) error

	// PoolUsage reports the space of a data pool of a file system.
	// Unknown file system or pool: ErrNotFound.
	PoolUsage(ctx context.Context, fs, pool string) (*PoolUsage, error)
}

// Target names a cluster and the user to reach it as.
type Target struct {
	ClusterID string
	Monitors  []string
	Creds     *credentials.Credentials
}

// ObjectStore is a RADOS namespace: the journal's omap operations and the
// versioned operations of reference trackers.
type ObjectStore interface {
	journal.ObjectStore
	journal.VersionedStore
}

// Session is one request's use of a cluster connection.
type Session interface {
	// Backend returns the cluster operations.
	Backend() Backend
	// ObjectStore opens the journal's object store on pool and namespace;
	// call the returned function to release it. Use it from one goroutine
	// at a time.
	ObjectStore(pool, namespace string) (ObjectStore, func(), error)
	// Release returns the connection.
	Release()
}

// Connector opens sessions. Failures to reach a cluster wrap ErrConnect.
type Connector interface {
	Connect(ctx context.Context, t Target) (Session, error)
}

// ErrConnect wraps every failure to reach a cluster.
var ErrConnect = errors.New("cannot connect to the Ceph cluster")
