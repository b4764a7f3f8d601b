package controller

import (
	"context"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/groupjournal"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
)

// groupRecord is a volume group snapshot's journal record.
type groupRecord = groupjournal.Record

// groupJournal keeps the group snapshot records (see groupjournal for the
// layout); the shared group journal layer replaces groupjournal.Journal
// behind it once it lands.
type groupJournal interface {
	// Lookup returns the record of a request name; none: journal.ErrNotFound.
	Lookup(ctx context.Context, name string) (*groupRecord, error)
	// Reserve records a name with its members; a record of that name left
	// by a crashed attempt is adopted.
	Reserve(ctx context.Context, name string, members map[string]string) (*groupRecord, error)
	// Get reads the record of a UUID; none: journal.ErrNotFound.
	Get(ctx context.Context, id string) (*groupRecord, error)
	// Undo removes the directory entry, then the UUID object. Idempotent.
	Undo(ctx context.Context, rec *groupRecord) error
}

func newGroupJournal(store journal.ObjectStore, instance string) groupJournal {
	return groupjournal.New(store, instance)
}
