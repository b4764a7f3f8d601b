package controller

import (
	"context"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend"
)

// Quiescer pauses I/O on the subvolumes of a volume group snapshot while
// their snapshots are taken, so that the group is crash-consistent.
//
// Ceph Pacific has no such command: the default, BestEffort, pauses
// nothing and the snapshots are taken back to back (see
// docs/group-snapshots.md). A build for Ceph Squid or later can implement
// it with `ceph fs quiesce <fs> <members> --set-id <id> --await` and
// release with `--release`.
type Quiescer interface {
	// Quiesce pauses I/O on members of file system fs under the quiesce
	// set setID (the group's UUID, so a retry finds its own set) and
	// returns the function that resumes it. Release must be called, also
	// when taking the snapshots failed; it is idempotent.
	Quiesce(ctx context.Context, fs, setID string, members []backend.SubvolumeRef) (release func(context.Context) error, err error)
}

// BestEffort is the Quiescer of Ceph releases without `fs quiesce`: it
// pauses nothing. Snapshots taken under it are each consistent, but the
// group is not crash-consistent unless the application is quiesced.
type BestEffort struct{}

// Quiesce implements Quiescer.
func (BestEffort) Quiesce(context.Context, string, string, []backend.SubvolumeRef) (func(context.Context) error, error) {
	return func(context.Context) error { return nil }, nil
}
