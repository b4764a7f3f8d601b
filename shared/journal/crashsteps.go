package journal

// Crash points after each journal write (see package crashpoint). A
// reliability test arms one of them, repeats the request after the crash and
// checks that the retry converges on one record.
const (
	// StepReserveUUIDCreated follows the exclusive create of the UUID object,
	// before the directory entry is written.
	StepReserveUUIDCreated = "journal.reserve.uuid-created"
	// StepReserveDirectoryWritten follows the directory entry of a
	// reservation.
	StepReserveDirectoryWritten = "journal.reserve.directory-written"
	// StepAttributesSet follows SetAttributes and SetImageID.
	StepAttributesSet = "journal.attributes-set"
	// StepUndoDirectoryRemoved follows the removal of the directory entry,
	// before the UUID object goes.
	StepUndoDirectoryRemoved = "journal.undo.directory-removed"
	// StepUndoUUIDRemoved follows the removal of the UUID object.
	StepUndoUUIDRemoved = "journal.undo.uuid-removed"
)

// CrashSteps lists every journal crash point in write order.
var CrashSteps = []string{
	StepReserveUUIDCreated, StepReserveDirectoryWritten, StepAttributesSet,
	StepUndoDirectoryRemoved, StepUndoUUIDRemoved,
}

// Crash points of the group journal (Groups), in write order.
const (
	StepGroupReserveUUIDCreated      = "journal.group.reserve.uuid-created"
	StepGroupReserveDirectoryWritten = "journal.group.reserve.directory-written"
	StepGroupMembersAdded            = "journal.group.members-added"
	StepGroupMembersRemoved          = "journal.group.members-removed"
	StepGroupUndoDirectoryRemoved    = "journal.group.undo.directory-removed"
	StepGroupUndoUUIDRemoved         = "journal.group.undo.uuid-removed"
)

// GroupCrashSteps lists every group journal crash point in write order.
var GroupCrashSteps = []string{
	StepGroupReserveUUIDCreated, StepGroupReserveDirectoryWritten, StepGroupMembersAdded,
	StepGroupMembersRemoved, StepGroupUndoDirectoryRemoved, StepGroupUndoUUIDRemoved,
}
