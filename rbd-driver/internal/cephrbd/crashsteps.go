package cephrbd

import "github.com/seed-6a310834/ceph-csi/shared/crashpoint"

// Crash points after each Ceph write of the adapter (see shared/crashpoint;
// the journal's own are in shared/journal/crashsteps.go). A reliability test
// starts the driver with CEPH_CSI_CRASH_AT=<step>, repeats the request after
// the crash and checks that the retry converges on one volume and leaks
// nothing. Each point is hit only when the write succeeded, and after the
// image it changed is closed: a process killed with an image open leaves its
// watch on the image until the OSD expires it (osd_client_watch_timeout,
// 30 s), during which DeleteVolume rightly answers FailedPrecondition.
const (
	// StepImageCreated follows rbd_create of a new image.
	StepImageCreated = "rbd.image.created"
	// StepImageCloned follows the clone of a snapshot into a new image.
	StepImageCloned = "rbd.image.cloned"
	// StepImageResized follows the growth of an image.
	StepImageResized = "rbd.image.resized"
	// StepImageRenamed follows a rename (a deleted volume with snapshots
	// becoming a tomb).
	StepImageRenamed = "rbd.image.renamed"
	// StepMetadataSet follows the image metadata keys written.
	StepMetadataSet = "rbd.image.metadata-set"
	// StepImageTrashed follows the move of an image to the RBD trash.
	StepImageTrashed = "rbd.image.trashed"
	// StepSnapshotCreated follows snap_create.
	StepSnapshotCreated = "rbd.snapshot.created"
	// StepSnapshotRemoved follows snap_remove (or its move to the trash
	// namespace).
	StepSnapshotRemoved = "rbd.snapshot.removed"
	// StepPurgeQueued follows the mgr's acceptance of a `trash remove`
	// task.
	StepPurgeQueued = "rbd.trash.purge-queued"
	// StepTrashRemoved follows the synchronous removal of a trashed image
	// (the fallback when the mgr cannot take the task).
	StepTrashRemoved = "rbd.trash.removed"
	// StepFlattenQueued follows the mgr's acceptance of a `flatten` task.
	StepFlattenQueued = "rbd.flatten.queued"
	// StepGroupCreated follows the creation of an RBD group (a volume
	// group snapshot passes through one).
	StepGroupCreated = "rbd.group.created"
	// StepGroupImageAdded follows the addition of an image to a group.
	StepGroupImageAdded = "rbd.group.image-added"
	// StepGroupSnapCreated follows the group snapshot.
	StepGroupSnapCreated = "rbd.group.snap-created"
	// StepGroupImageCopied follows the copy (or clone) of a member's group
	// snapshot into an image of its own.
	StepGroupImageCopied = "rbd.group.image-copied"
	// StepGroupSnapRemoved follows the removal of a group snapshot.
	StepGroupSnapRemoved = "rbd.group.snap-removed"
	// StepGroupImageRemoved follows the removal of an image from a group.
	StepGroupImageRemoved = "rbd.group.image-removed"
	// StepGroupRemoved follows the removal of a group.
	StepGroupRemoved = "rbd.group.removed"
)

// CrashSteps lists every crash point of the adapter.
var CrashSteps = []string{
	StepImageCreated, StepImageCloned, StepImageResized, StepImageRenamed, StepMetadataSet,
	StepImageTrashed, StepSnapshotCreated, StepSnapshotRemoved, StepPurgeQueued, StepTrashRemoved,
	StepFlattenQueued, StepGroupCreated, StepGroupImageAdded, StepGroupSnapCreated, StepGroupImageCopied,
	StepGroupSnapRemoved, StepGroupImageRemoved, StepGroupRemoved,
}

// hitAfterClose hits step when *wrote is true. Deferred before the Close
// of an open image (deferred calls run last in, first out), it crashes
// after the close.
func hitAfterClose(step string, wrote *bool) {
	if *wrote {
		crashpoint.Hit(step)
	}
}
