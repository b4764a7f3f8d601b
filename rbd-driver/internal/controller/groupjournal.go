package controller

import (
	"context"

	"github.com/seed-6a310834/ceph-csi/shared/journal"
)

// groupRecord is a volume group snapshot's journal record.
type groupRecord = journal.GroupRecord

// groupJournal is what the GroupController needs of the shared group
// journal (journal.Groups, ceph-csi's csi.groups.<instance> layout).
type groupJournal interface {
	// Lookup returns the record of a request name; none: journal.ErrNotFound.
	Lookup(ctx context.Context, name string) (*groupRecord, error)
	// Reserve records a name (derived UUID; a crashed attempt's record
	// is adopted).
	Reserve(ctx context.Context, name, namePrefix string) (*groupRecord, error)
	// AddMembers records volume ID -> member snapshot ID pairs.
	AddMembers(ctx context.Context, id string, members map[string]string) error
	// Get reads the record of a UUID; none: journal.ErrNotFound.
	Get(ctx context.Context, id string) (*groupRecord, error)
	// Undo removes the directory entry, then the UUID object. Idempotent.
	Undo(ctx context.Context, rec *groupRecord) error
}

func newGroupJournal(store journal.ObjectStore, instance string) groupJournal {
	return journal.NewGroups(store, journal.GroupOptions{Instance: instance})
}
