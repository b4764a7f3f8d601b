package journal

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/seed-6a310834/ceph-csi/shared/crashpoint"
)

// ErrNotFound means the journal holds no record for the name or UUID asked
// for.
var ErrNotFound = errors.New("journal: record not found")

// ErrCorrupt means a record exists but contradicts itself (for example the
// directory points at a UUID object that names another request). The journal
// never repairs such a record on its own; an operator or the audit does.
var ErrCorrupt = errors.New("journal: inconsistent record")

// maxUUIDAttempts bounds the retries when a UUID is already taken by another
// request.
const maxUUIDAttempts = 8

// uuidNamespace seeds the name-derived UUIDs (see Reserve).
var uuidNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("github.com/seed-6a310834/ceph-csi/journal"))

// Record is what the journal knows about one reserved volume or snapshot.
type Record struct {
	// UUID is the reservation's identity; it is the last part of the CSI ID.
	UUID string
	// RequestName is the CSI request name (the PVC's pvc-<uid>).
	RequestName string
	// ImageName is the RBD image or CephFS subvolume name.
	ImageName string
	// ImageID is the backend's ID of the image once it exists ("" before).
	ImageID string
	// ImagePoolID is the pool holding the image when it is not the journal's
	// pool, else SamePool. Only Lookup can know it (it lives in the
	// directory); Get reports SamePool.
	ImagePoolID int64
	// Source is the parent recorded at reservation (e.g. a snapshot's
	// source image name).
	Source string
	// Owner is the owner recorded at reservation.
	Owner string
	// Attributes holds every other attribute of the record.
	Attributes map[string]string

	// split is set on a record read from the directory's pool because
	// its UUID object in the image pool was empty (see get); Undo then
	// removes both objects.
	split bool
}

// Reservation describes a name to reserve.
type Reservation struct {
	// RequestName is the CSI request name; required.
	RequestName string
	// NamePrefix prefixes the image name; default csi-vol- or csi-snap-.
	NamePrefix string
	// ImagePoolID is the image's pool when it differs from the journal's;
	// use SamePool otherwise.
	ImagePoolID int64
	// Source and Owner are stored as csi.source and csi.volume.owner when
	// not empty.
	Source string
	Owner  string
	// ImageID, when the image already exists (it was created under the
	// planned name before the reservation, see Planned), is stored with the
	// UUID object in the same exclusive create: the record is complete in
	// one write and SetImageID is not needed.
	ImageID string
	// Attributes are stored as they are (keys must not clash with the
	// journal's own keys).
	Attributes map[string]string
}

// Entry is one directory entry, as listed for audits.
type Entry struct {
	RequestName string
	UUID        string
	ImagePoolID int64
}

// Options configures a Journal.
type Options struct {
	// Kind selects the volume or the snapshot journal.
	Kind Kind
	// Instance names the journal instance; default "default".
	Instance string
	// RandomUUID returns a fresh random UUID; default uuid.NewString. Tests
	// inject collisions through it.
	RandomUUID func() string
	// UUIDStore holds the per-UUID objects when they live in another pool
	// than the directory (ceph-csi keeps them in the image's pool when the
	// StorageClass names a separate journalPool). Default: the directory's
	// store.
	UUIDStore ObjectStore
	// UUIDStoreFor, when set, returns the per-UUID object store of the
	// image pool a directory entry names (entries written with an
	// ImagePoolID other than SamePool). Lookup uses it, so that one journal
	// pool can serve several image pools; without it Lookup reads every
	// UUID object from UUIDStore.
	UUIDStoreFor func(ctx context.Context, poolID int64) (ObjectStore, error)
}

// Journal is the idempotency store that maps CSI request names to reserved
// UUIDs and image names, in ceph-csi's on-cluster layout. It is safe for
// concurrent use; callers serialise operations on one request name (the
// drivers hold a per-name lock).
type Journal struct {
	store      ObjectStore // the directory's pool
	objects    ObjectStore // the per-UUID objects' pool
	objectsFor func(ctx context.Context, poolID int64) (ObjectStore, error)
	l          layout
	kind       Kind
	instance   string
	randomUUID func() string
}

// New returns a journal over store.
func New(store ObjectStore, opts Options) *Journal {
	if opts.Instance == "" {
		opts.Instance = "default"
	}
	if opts.RandomUUID == nil {
		opts.RandomUUID = uuid.NewString
	}
	if opts.UUIDStore == nil {
		opts.UUIDStore = store
	}
	return &Journal{
		store:      store,
		objects:    opts.UUIDStore,
		objectsFor: opts.UUIDStoreFor,
		l:          newLayout(opts.Kind, opts.Instance),
		kind:       opts.Kind,
		instance:   opts.Instance,
		randomUUID: opts.RandomUUID,
	}
}

// Lookup finds the record of requestName.
//
// Not found: ErrNotFound. A directory entry whose UUID object is missing is a
// reservation that was torn down from outside; Lookup removes the dangling
// entry and returns ErrNotFound. A UUID object naming another request gives
// ErrCorrupt. Read-only otherwise; repeating it is harmless.
//
// Cost: 1 round trip when the name is unknown, 2 when it is found.
func (j *Journal) Lookup(ctx context.Context, requestName string) (*Record, error) {
	key := j.l.nameKey(requestName)
	vals, err := j.store.GetOmapValues(ctx, j.l.directory, []string{key})
	if errors.Is(err, ErrObjectNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("journal: read directory %s: %w", j.l.directory, err)
	}
	value, ok := vals[key]
	if !ok {
		return nil, ErrNotFound
	}
	poolID, id, err := decodeDirValue(value)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	objects := j.objects
	if poolID != SamePool && j.objectsFor != nil {
		if objects, err = j.objectsFor(ctx, poolID); err != nil {
			return nil, fmt.Errorf("journal: UUID objects of pool %d: %w", poolID, err)
		}
	}
	rec, err := j.get(ctx, objects, id)
	if errors.Is(err, ErrNotFound) {
		if rmErr := j.store.RemoveOmapKeys(ctx, j.l.directory, []string{key}); rmErr != nil {
			return nil, fmt.Errorf("journal: remove dangling entry %q: %w", requestName, rmErr)
		}
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if rec.RequestName != requestName {
		return nil, fmt.Errorf("%w: directory maps %q to %s, which belongs to %q",
			ErrCorrupt, requestName, id, rec.RequestName)
	}
	rec.ImagePoolID = poolID
	return rec, nil
}

// Reserve records a new reservation for r.RequestName and returns it. Call it
// after Lookup returned ErrNotFound, holding the name's lock.
//
// The UUID is derived from the request name (a name-based UUID in the
// journal's own namespace), so a retry after a crash, or a twin request in
// another process, lands on the same UUID object: the exclusive create finds
// it, sees the same request name and adopts it instead of reserving a second
// volume. A UUID object left by a crash before the directory write is thus
// never an invisible orphan. Only when the derived UUID is held by another
// name does Reserve fall back to random UUIDs.
//
// Order of writes: the UUID object first (exclusive create with every
// attribute, one atomic op), then the directory entry. The directory never
// points at a missing object because of a crash of ours.
//
// Cost: 2 round trips (a third per UUID collision).
func (j *Journal) Reserve(ctx context.Context, r Reservation) (*Record, error) {
	if r.RequestName == "" {
		return nil, errors.New("journal: reservation without a request name")
	}
	id := j.derivedUUID(r.RequestName)
	for attempt := 0; ; attempt++ {
		rec, err := j.claimUUID(ctx, id, r)
		if err == nil {
			crashpoint.Hit(StepReserveUUIDCreated)
			if err := j.adoptImageID(ctx, rec, r.ImageID); err != nil {
				return nil, err
			}
			if err := j.store.SetOmap(ctx, j.l.directory, map[string]string{
				j.l.nameKey(r.RequestName): encodeDirValue(r.ImagePoolID, rec.UUID),
			}); err != nil {
				return nil, fmt.Errorf("journal: write directory entry %q: %w", r.RequestName, err)
			}
			crashpoint.Hit(StepReserveDirectoryWritten)
			rec.ImagePoolID = r.ImagePoolID
			return rec, nil
		}
		if !errors.Is(err, errTaken) {
			return nil, err
		}
		if attempt+1 >= maxUUIDAttempts {
			return nil, fmt.Errorf("journal: no free UUID for %q after %d attempts", r.RequestName, maxUUIDAttempts)
		}
		id = j.randomUUID()
	}
}

// Planned returns the UUID and image name a Reserve of r will use unless the
// derived UUID turns out to be held by another request (then Reserve's
// record has another UUID, which the caller must check). No round trip.
// It lets a caller create the image before reserving, and reserve with the
// image ID in the same write (Reservation.ImageID).
func (j *Journal) Planned(r Reservation) (uuid, imageName string) {
	id := j.derivedUUID(r.RequestName)
	return id, j.attributes(id, r)[KeyImageName]
}

// adoptImageID records imageID on a record adopted from an earlier attempt
// that did not have it (or had another one).
func (j *Journal) adoptImageID(ctx context.Context, rec *Record, imageID string) error {
	if imageID == "" || rec.ImageID == imageID {
		return nil
	}
	if err := j.SetImageID(ctx, rec.UUID, imageID); err != nil {
		return err
	}
	rec.ImageID = imageID
	return nil
}

// errTaken means a UUID object exists and belongs to another request.
var errTaken = errors.New("uuid taken")

// claimUUID creates the UUID object for r, or adopts it when an earlier
// attempt for the same request name created it.
func (j *Journal) claimUUID(ctx context.Context, id string, r Reservation) (*Record, error) {
	attrs := j.attributes(id, r)
	err := j.objects.CreateWithOmap(ctx, j.l.uuidObject(id), attrs)
	if err == nil {
		return j.recordFrom(id, attrs), nil
	}
	if !errors.Is(err, ErrObjectExists) {
		return nil, fmt.Errorf("journal: create %s: %w", j.l.uuidObject(id), err)
	}
	existing, err := j.Get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		// Removed between our create and our read: a racing undo. Try again
		// with the same UUID through the caller's loop.
		return nil, errTaken
	}
	if err != nil {
		return nil, err
	}
	if existing.RequestName != r.RequestName {
		return nil, errTaken
	}
	return existing, nil
}

func (j *Journal) attributes(id string, r Reservation) map[string]string {
	prefix := r.NamePrefix
	if prefix == "" {
		prefix = j.l.defaultPrefix
	}
	attrs := make(map[string]string, len(r.Attributes)+4)
	for k, v := range r.Attributes {
		attrs[k] = v
	}
	attrs[j.l.nameAttr] = r.RequestName
	attrs[KeyImageName] = prefix + id
	if r.ImageID != "" {
		attrs[KeyImageID] = r.ImageID
	}
	if r.Source != "" {
		attrs[KeySource] = r.Source
	}
	if r.Owner != "" {
		attrs[KeyOwner] = r.Owner
	}
	return attrs
}

func (j *Journal) derivedUUID(requestName string) string {
	seed := fmt.Sprintf("%d/%s/%s", j.kind, j.instance, requestName)
	return uuid.NewSHA1(uuidNamespace, []byte(seed)).String()
}

// Get reads the record of a UUID (as decoded from a CSI ID).
//
// Not found: ErrNotFound. Read-only. Cost: 1 round trip.
func (j *Journal) Get(ctx context.Context, id string) (*Record, error) {
	return j.get(ctx, j.objects, id)
}

func (j *Journal) get(ctx context.Context, objects ObjectStore, id string) (*Record, error) {
	if err := validUUID(id); err != nil {
		return nil, ErrNotFound
	}
	attrs, err := objects.ListOmap(ctx, j.l.uuidObject(id), "")
	if errors.Is(err, ErrObjectNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("journal: read %s: %w", j.l.uuidObject(id), err)
	}
	if attrs[j.l.nameAttr] == "" && objects != j.store {
		return j.splitRecord(ctx, id, attrs)
	}
	return j.recordFrom(id, attrs), nil
}

// splitRecord reads a record that ceph-csi split: given a separate journal
// pool, it creates the UUID object empty in the image pool and writes the
// attributes to the object of the same name in the directory's pool. The
// image pool's (empty) record is returned when the directory's pool holds
// none.
func (j *Journal) splitRecord(ctx context.Context, id string, attrs map[string]string) (*Record, error) {
	alt, err := j.store.ListOmap(ctx, j.l.uuidObject(id), "")
	if errors.Is(err, ErrObjectNotFound) || (err == nil && alt[j.l.nameAttr] == "") {
		return j.recordFrom(id, attrs), nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal: read %s: %w", j.l.uuidObject(id), err)
	}
	rec := j.recordFrom(id, alt)
	rec.split = true
	return rec, nil
}

func (j *Journal) recordFrom(id string, attrs map[string]string) *Record {
	rec := &Record{UUID: id, ImagePoolID: SamePool, Attributes: map[string]string{}}
	for k, v := range attrs {
		switch k {
		case j.l.nameAttr:
			rec.RequestName = v
		case KeyImageName:
			rec.ImageName = v
		case KeyImageID:
			rec.ImageID = v
		case KeySource:
			rec.Source = v
		case KeyOwner:
			rec.Owner = v
		default:
			rec.Attributes[k] = v
		}
	}
	return rec
}

// SetImageID stores the backend's image ID once the image exists.
//
// Not found: ErrNotFound (nothing written). Idempotent. Cost: 1 round trip.
func (j *Journal) SetImageID(ctx context.Context, id, imageID string) error {
	return j.SetAttributes(ctx, id, map[string]string{KeyImageID: imageID})
}

// SetAttributes adds or replaces attributes of an existing record.
//
// Not found: ErrNotFound (nothing written). Idempotent. Cost: 1 round trip.
func (j *Journal) SetAttributes(ctx context.Context, id string, attrs map[string]string) error {
	if err := validUUID(id); err != nil {
		return ErrNotFound
	}
	if _, clash := attrs[j.l.nameAttr]; clash {
		return fmt.Errorf("journal: attribute %s is immutable", j.l.nameAttr)
	}
	err := j.objects.UpdateOmap(ctx, j.l.uuidObject(id), attrs)
	if errors.Is(err, ErrObjectNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("journal: update %s: %w", j.l.uuidObject(id), err)
	}
	crashpoint.Hit(StepAttributesSet)
	return nil
}

// Undo removes a reservation: the directory entry (only while it still
// points at rec.UUID), then the UUID object. Call it after the image is gone
// or trashed. rec needs UUID and RequestName, as Get or Lookup return them.
//
// A crash between the two writes leaves the UUID object alone, which the
// next Undo of the same UUID (a retried delete) removes. Missing pieces are
// not errors: Undo is idempotent. Cost: 3 round trips (read the directory
// entry, remove it, remove the UUID object).
func (j *Journal) Undo(ctx context.Context, rec *Record) error {
	if rec == nil || rec.UUID == "" {
		return errors.New("journal: undo without a record")
	}
	if rec.RequestName != "" {
		if err := j.removeDirEntry(ctx, rec.RequestName, rec.UUID); err != nil {
			return err
		}
		crashpoint.Hit(StepUndoDirectoryRemoved)
	}
	if rec.split {
		// The attributes' object first: the empty one left alone still
		// leads a retry here.
		if err := j.store.Remove(ctx, j.l.uuidObject(rec.UUID)); err != nil {
			return fmt.Errorf("journal: remove %s: %w", j.l.uuidObject(rec.UUID), err)
		}
	}
	if err := j.objects.Remove(ctx, j.l.uuidObject(rec.UUID)); err != nil {
		return fmt.Errorf("journal: remove %s: %w", j.l.uuidObject(rec.UUID), err)
	}
	crashpoint.Hit(StepUndoUUIDRemoved)
	return nil
}

func (j *Journal) removeDirEntry(ctx context.Context, requestName, id string) error {
	key := j.l.nameKey(requestName)
	vals, err := j.store.GetOmapValues(ctx, j.l.directory, []string{key})
	if errors.Is(err, ErrObjectNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("journal: read directory %s: %w", j.l.directory, err)
	}
	value, ok := vals[key]
	if !ok {
		return nil
	}
	if _, current, derr := decodeDirValue(value); derr == nil && current != id {
		return nil // the name now belongs to another reservation
	}
	if err := j.store.RemoveOmapKeys(ctx, j.l.directory, []string{key}); err != nil {
		return fmt.Errorf("journal: remove directory entry %q: %w", requestName, err)
	}
	return nil
}

// List returns every directory entry, for audits. Entries whose value cannot
// be parsed are returned with an empty UUID.
func (j *Journal) List(ctx context.Context) ([]Entry, error) {
	vals, err := j.store.ListOmap(ctx, j.l.directory, j.l.nameKeyPrefix)
	if errors.Is(err, ErrObjectNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal: list directory %s: %w", j.l.directory, err)
	}
	entries := make([]Entry, 0, len(vals))
	for k, v := range vals {
		e := Entry{RequestName: strings.TrimPrefix(k, j.l.nameKeyPrefix)}
		if pool, id, err := decodeDirValue(v); err == nil {
			e.UUID, e.ImagePoolID = id, pool
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// ListUUIDs returns the UUIDs of every per-UUID object, referenced or not,
// for audits (an unreferenced one is a reservation whose directory write
// never happened).
func (j *Journal) ListUUIDs(ctx context.Context) ([]string, error) {
	names, err := j.objects.ListObjects(ctx, j.l.uuidPrefix)
	if err != nil {
		return nil, fmt.Errorf("journal: list objects: %w", err)
	}
	var ids []string
	for _, n := range names {
		id := strings.TrimPrefix(n, j.l.uuidPrefix)
		if validUUID(id) == nil {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// ImageNamePrefix returns the default image name prefix of this journal's
// kind (csi-vol- or csi-snap-).
func (j *Journal) ImageNamePrefix() string { return j.l.defaultPrefix }

// EncryptionKMS returns the KMS ID of a record ceph-csi made for an
// encrypted volume or snapshot (its csi.volume.encryptKMS key, written
// only for encryption, "default" when the StorageClass names no KMS), and
// whether the record is one.
func (r *Record) EncryptionKMS() (string, bool) {
	kms := r.Attributes[KeyEncryptKMS]
	return kms, kms != ""
}
