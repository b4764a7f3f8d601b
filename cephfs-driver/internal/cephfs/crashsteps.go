package cephfs

import "github.com/seed-6a310834/ceph-csi/shared/crashpoint"

// Crash points after each Ceph write of the adapter (see package
// shared/crashpoint; the journal's own are in shared/journal/crashsteps.go).
// Each is hit once the write succeeded (an idempotent no-op, such as the
// removal of something already gone, counts as success), never after a
// failed one. A reliability test arms one of them, repeats the request after
// the crash and checks that the retry converges on one volume or snapshot.
const (
	// StepGroupCreated follows `subvolumegroup create`.
	StepGroupCreated = "cephfs.group-created"
	// StepGroupRemoved follows `subvolumegroup rm`.
	StepGroupRemoved = "cephfs.group-removed"
	// StepSubvolumeCreated follows `subvolume create`.
	StepSubvolumeCreated = "cephfs.subvolume-created"
	// StepSubvolumeResized follows `subvolume resize`.
	StepSubvolumeResized = "cephfs.subvolume-resized"
	// StepSubvolumeRemoved follows `subvolume rm --retain-snapshots`.
	StepSubvolumeRemoved = "cephfs.subvolume-removed"
	// StepSnapshotCreated follows `subvolume snapshot create`.
	StepSnapshotCreated = "cephfs.snapshot-created"
	// StepSnapshotRemoved follows `subvolume snapshot rm`.
	StepSnapshotRemoved = "cephfs.snapshot-removed"
	// StepCloneStarted follows `subvolume snapshot clone`.
	StepCloneStarted = "cephfs.clone-started"
	// StepCloneCancelled follows `clone cancel`.
	StepCloneCancelled = "cephfs.clone-cancelled"
)

// CrashSteps lists every crash point of the adapter.
var CrashSteps = []string{
	StepGroupCreated, StepGroupRemoved, StepSubvolumeCreated, StepSubvolumeResized, StepSubvolumeRemoved,
	StepSnapshotCreated, StepSnapshotRemoved, StepCloneStarted, StepCloneCancelled,
}

// hitIfDone passes the crash point step when the write it follows
// succeeded, and returns err unchanged.
func hitIfDone(step string, err error) error {
	if err == nil {
		crashpoint.Hit(step)
	}
	return err
}
