package backend

import (
	"context"
	"time"
)

// PartialImage is what a create killed inside librbd leaves under an image
// name: librbd writes the directory entry (name -> ID), then the ID object
// rbd_id.<name>, then the header rbd_header.<id>, so a process killed in
// between leaves a name that cannot be created (ErrExists) and cannot be
// opened (ErrNotFound). The same pieces are present, for a few round
// trips, while a live create is at work.
type PartialImage struct {
	// DirID is the ID the pool's directory maps the name to; "" when the
	// directory has no entry for it.
	DirID string
	// ObjectID is the ID the name's ID object holds; "" without one.
	ObjectID string
	// ObjectTime is when the ID object was written (zero without one): a
	// create that wrote it was alive then.
	ObjectTime time.Time
}

// Empty reports whether nothing of the name exists.
func (p PartialImage) Empty() bool { return p.DirID == "" && p.ObjectID == "" }

// Same reports whether q names the same pieces as p.
func (p PartialImage) Same(q PartialImage) bool {
	return p.DirID == q.DirID && p.ObjectID == q.ObjectID
}

// Partials is implemented by the sessions that can find and remove the
// pieces of a half-made image (internal/cephrbd, backend/fake).
type Partials interface {
	// Partial reports the pieces of an image name whose header does not
	// exist. Nothing under the name: an empty PartialImage. A header
	// exists for the name's ID (the image is complete, or its create
	// wrote the header since): ErrExists. Read-only.
	Partial(ctx context.Context, img ImageRef) (PartialImage, error)
	// RemovePartial removes exactly the pieces p names: the ID object only
	// while it still holds p.ObjectID, the directory entry only while it
	// still maps the name to p.DirID, and neither when a header exists for
	// them. Pieces already gone: no error; pieces that changed since
	// Partial: ErrExists (they belong to a newer create). Idempotent.
	RemovePartial(ctx context.Context, img ImageRef, p PartialImage) error
}

// TrashMoves is implemented by the sessions that can finish a move to the
// RBD trash cut off inside librbd: librbd adds the trash entry, removes the
// ID object, then the directory entry, so a process killed in between
// leaves an image that is in the trash and still listed under its name
// (opening it by name fails: not found).
type TrashMoves interface {
	// FinishTrashMove removes what is left under img's name of image ID
	// id when id is in the trash: the ID object if it holds id, the
	// directory entry if it maps the name to id. Not in the trash:
	// ErrNotFound. Idempotent.
	FinishTrashMove(ctx context.Context, img ImageRef, id string) error
}

// RenameLeftovers is implemented by the sessions that can clean up after a
// rename cut off inside librbd: librbd writes the new name's ID object,
// then renames the directory entry, then removes the old name's ID object.
// A process killed after the first write leaves an ID object under the new
// name that makes every later rename to it fail (exists); one killed after
// the second leaves the old name's ID object behind.
type RenameLeftovers interface {
	// IDObject returns the image ID that img's ID object holds and when
	// the object was last written. None: ErrNotFound. Read-only.
	IDObject(ctx context.Context, img ImageRef) (id string, written time.Time, err error)
	// RemoveIDObject removes img's ID object only while it holds id.
	// Gone: no error; holding another ID: ErrExists. Idempotent.
	RemoveIDObject(ctx context.Context, img ImageRef, id string) error
}
