package journal

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/seed-6a310834/ceph-csi/shared/crashpoint"
)

// The group journal records volume group snapshots (and, in ceph-csi, volume
// groups) in ceph-csi's layout for groups (its VolumeGroupJournal):
//
//   - directory object csi.groups.<instance> with omap key
//     csi.volume.group.<request name> whose value is the group's UUID;
//   - per-UUID object csi.volume.group.<uuid> with keys csi.volname (the
//     request name), csi.groupname (the name prefix, default csi-vol-group-,
//     followed by the UUID), csi.creationtime (time.Time's MarshalText, i.e.
//     RFC 3339 with nanoseconds), and one key per member: the member volume's
//     CSI ID, whose value is the CSI ID of the member's snapshot (empty for a
//     volume group, which this project does not create).
//
// The group snapshot's CSI ID is an ordinary CSI identifier (shared/volid)
// whose object UUID is the group's UUID. Each member snapshot is an ordinary
// snapshot of the snapshot journal; ceph-csi names its request
// "<group name>-<source volume ID>" (GroupMemberRequestName).

// Keys of the per-UUID object of a group, as ceph-csi writes them.
const (
	KeyGroupRequestName  = "csi.volname"
	KeyGroupName         = "csi.groupname"
	KeyGroupCreationTime = "csi.creationtime"
)

const (
	groupDirectoryPrefix = "csi.groups."
	groupKeyPrefix       = "csi.volume.group."
	// DefaultGroupNamePrefix is ceph-csi's prefix of group names.
	DefaultGroupNamePrefix = "csi-vol-group-"
)

// GroupRecord is what the group journal knows about one group snapshot.
type GroupRecord struct {
	// UUID is the group's identity, the last part of its CSI ID.
	UUID string
	// RequestName is the CSI request name (the VolumeGroupSnapshotContent's
	// groupsnapshot-<uid>).
	RequestName string
	// GroupName is the prefix followed by the UUID; member snapshot request
	// names derive from it.
	GroupName string
	// CreationTime is when the group was reserved; zero when the record
	// holds none or an unreadable one.
	CreationTime time.Time
	// Members maps each member volume's CSI ID to its snapshot's CSI ID.
	Members map[string]string
}

// GroupOptions configures a Groups journal.
type GroupOptions struct {
	// Instance names the journal instance; default "default".
	Instance string
	// RandomUUID returns a fresh random UUID; default uuid.NewString.
	RandomUUID func() string
	// Now returns the creation time to record; default time.Now.
	Now func() time.Time
}

// Groups is the journal of volume group snapshots. Like Journal it is safe
// for concurrent use and callers serialise operations on one request name
// and one UUID (the drivers hold per-name and per-ID locks).
type Groups struct {
	store      ObjectStore
	directory  string
	instance   string
	randomUUID func() string
	now        func() time.Time
}

// NewGroups returns the group journal over store (for CephFS the
// filesystem's metadata pool, for RBD the journal pool, in the cluster's
// RADOS namespace, as ceph-csi keeps it).
func NewGroups(store ObjectStore, opts GroupOptions) *Groups {
	if opts.Instance == "" {
		opts.Instance = "default"
	}
	if opts.RandomUUID == nil {
		opts.RandomUUID = uuid.NewString
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Groups{store: store, directory: groupDirectoryPrefix + opts.Instance,
		instance: opts.Instance, randomUUID: opts.RandomUUID, now: opts.Now}
}

// GroupMemberRequestName is the request name of the snapshot of member
// volumeID in the group named groupName, as ceph-csi forms it.
func GroupMemberRequestName(groupName, volumeID string) string {
	return groupName + "-" + volumeID
}

// DirectoryObject returns the name of the group directory object.
func (g *Groups) DirectoryObject() string { return g.directory }

// UUIDObject returns the name of the per-UUID object of group id.
func (g *Groups) UUIDObject(id string) string { return groupKeyPrefix + id }

func (g *Groups) nameKey(requestName string) string { return groupKeyPrefix + requestName }

// Lookup finds the group of requestName.
//
// Not found: ErrNotFound. A directory entry whose UUID object is gone is
// removed and reported as ErrNotFound; a UUID object naming another request
// gives ErrCorrupt. Read-only otherwise. Cost: 1 round trip when unknown, 2
// when found.
func (g *Groups) Lookup(ctx context.Context, requestName string) (*GroupRecord, error) {
	key := g.nameKey(requestName)
	vals, err := g.store.GetOmapValues(ctx, g.directory, []string{key})
	if errors.Is(err, ErrObjectNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("journal: read directory %s: %w", g.directory, err)
	}
	id, ok := vals[key]
	if !ok {
		return nil, ErrNotFound
	}
	if validUUID(id) != nil {
		return nil, fmt.Errorf("%w: group directory entry %q holds %q", ErrCorrupt, requestName, id)
	}
	rec, err := g.Get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		if rmErr := g.store.RemoveOmapKeys(ctx, g.directory, []string{key}); rmErr != nil {
			return nil, fmt.Errorf("journal: remove dangling group entry %q: %w", requestName, rmErr)
		}
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if rec.RequestName != requestName {
		return nil, fmt.Errorf("%w: group directory maps %q to %s, which belongs to %q",
			ErrCorrupt, requestName, id, rec.RequestName)
	}
	return rec, nil
}

// Reserve records a new group for requestName, its group name being
// namePrefix (default csi-vol-group-) followed by the UUID. Call it after
// Lookup returned ErrNotFound, holding the name's lock.
//
// As Journal.Reserve: the UUID derives from the request name, the UUID object
// is created exclusively with its attributes first and the directory entry
// written second, so a retry after a crash between the two adopts the UUID
// object (keeping its creation time and members) instead of leaking it.
// Idempotent. Cost: 2 round trips (a third per UUID collision).
func (g *Groups) Reserve(ctx context.Context, requestName, namePrefix string) (*GroupRecord, error) {
	if requestName == "" {
		return nil, errors.New("journal: group reservation without a request name")
	}
	if namePrefix == "" {
		namePrefix = DefaultGroupNamePrefix
	}
	id := g.derivedUUID(requestName)
	for attempt := 0; ; attempt++ {
		rec, err := g.claim(ctx, id, requestName, namePrefix)
		if err == nil {
			crashpoint.Hit(StepGroupReserveUUIDCreated)
			if err := g.store.SetOmap(ctx, g.directory, map[string]string{g.nameKey(requestName): rec.UUID}); err != nil {
				return nil, fmt.Errorf("journal: write group directory entry %q: %w", requestName, err)
			}
			crashpoint.Hit(StepGroupReserveDirectoryWritten)
			return rec, nil
		}
		if !errors.Is(err, errTaken) {
			return nil, err
		}
		if attempt+1 >= maxUUIDAttempts {
			return nil, fmt.Errorf("journal: no free group UUID for %q after %d attempts", requestName, maxUUIDAttempts)
		}
		id = g.randomUUID()
	}
}

// Planned returns the UUID and group name a Reserve of requestName will use
// unless the derived UUID is held by another request. No round trip.
func (g *Groups) Planned(requestName, namePrefix string) (id, groupName string) {
	if namePrefix == "" {
		namePrefix = DefaultGroupNamePrefix
	}
	id = g.derivedUUID(requestName)
	return id, namePrefix + id
}

func (g *Groups) claim(ctx context.Context, id, requestName, namePrefix string) (*GroupRecord, error) {
	created, err := g.now().UTC().MarshalText()
	if err != nil {
		return nil, fmt.Errorf("journal: creation time: %w", err)
	}
	attrs := map[string]string{
		KeyGroupRequestName:  requestName,
		KeyGroupName:         namePrefix + id,
		KeyGroupCreationTime: string(created),
	}
	err = g.store.CreateWithOmap(ctx, g.UUIDObject(id), attrs)
	if err == nil {
		return groupRecordFrom(id, attrs), nil
	}
	if !errors.Is(err, ErrObjectExists) {
		return nil, fmt.Errorf("journal: create %s: %w", g.UUIDObject(id), err)
	}
	existing, err := g.Get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, errTaken
	}
	if err != nil {
		return nil, err
	}
	if existing.RequestName != requestName {
		return nil, errTaken
	}
	return existing, nil
}

func (g *Groups) derivedUUID(requestName string) string {
	seed := fmt.Sprintf("group/%s/%s", g.instance, requestName)
	return uuid.NewSHA1(uuidNamespace, []byte(seed)).String()
}

// Get reads the group of a UUID (as decoded from a group snapshot's CSI ID).
//
// Not found: ErrNotFound (also for a string that is no UUID). Read-only.
// Cost: 1 round trip.
func (g *Groups) Get(ctx context.Context, id string) (*GroupRecord, error) {
	if validUUID(id) != nil {
		return nil, ErrNotFound
	}
	attrs, err := g.store.ListOmap(ctx, g.UUIDObject(id), "")
	if errors.Is(err, ErrObjectNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("journal: read %s: %w", g.UUIDObject(id), err)
	}
	return groupRecordFrom(id, attrs), nil
}

func groupRecordFrom(id string, attrs map[string]string) *GroupRecord {
	rec := &GroupRecord{UUID: id, Members: map[string]string{}}
	for k, v := range attrs {
		switch k {
		case KeyGroupRequestName:
			rec.RequestName = v
		case KeyGroupName:
			rec.GroupName = v
		case KeyGroupCreationTime:
			var t time.Time
			if t.UnmarshalText([]byte(v)) == nil {
				rec.CreationTime = t
			}
		default:
			rec.Members[k] = v
		}
	}
	return rec
}

// AddMembers records members (volume CSI ID -> snapshot CSI ID) on group id,
// replacing the value of a member already recorded.
//
// Not found: ErrNotFound, nothing written. A key that is one of the
// record's own keys is refused. Idempotent. Cost: 1 round trip.
func (g *Groups) AddMembers(ctx context.Context, id string, members map[string]string) error {
	if validUUID(id) != nil {
		return ErrNotFound
	}
	for k := range members {
		if k == "" || strings.HasPrefix(k, "csi.") {
			return fmt.Errorf("journal: %q cannot be a group member key", k)
		}
	}
	err := g.store.UpdateOmap(ctx, g.UUIDObject(id), members)
	if errors.Is(err, ErrObjectNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("journal: update %s: %w", g.UUIDObject(id), err)
	}
	crashpoint.Hit(StepGroupMembersAdded)
	return nil
}

// RemoveMembers forgets the members volumeIDs of group id. Absent members
// and a missing group are not errors: idempotent. Cost: 1 round trip.
func (g *Groups) RemoveMembers(ctx context.Context, id string, volumeIDs []string) error {
	if validUUID(id) != nil || len(volumeIDs) == 0 {
		return nil
	}
	keys := make([]string, 0, len(volumeIDs))
	for _, v := range volumeIDs {
		if v != "" && !strings.HasPrefix(v, "csi.") {
			keys = append(keys, v)
		}
	}
	if err := g.store.RemoveOmapKeys(ctx, g.UUIDObject(id), keys); err != nil {
		return fmt.Errorf("journal: update %s: %w", g.UUIDObject(id), err)
	}
	crashpoint.Hit(StepGroupMembersRemoved)
	return nil
}

// Undo removes a group reservation: the directory entry (only while it still
// points at rec.UUID), then the UUID object with whatever members it still
// lists. Delete the member snapshots first. rec needs UUID and RequestName,
// as Get or Lookup return them.
//
// A crash between the two writes leaves the UUID object, which the retried
// delete (knowing the UUID from the CSI ID) removes. Missing pieces are not
// errors: idempotent. Cost: 3 round trips.
func (g *Groups) Undo(ctx context.Context, rec *GroupRecord) error {
	if rec == nil || validUUID(rec.UUID) != nil {
		return errors.New("journal: group undo without a record")
	}
	if rec.RequestName != "" {
		if err := g.removeDirEntry(ctx, rec.RequestName, rec.UUID); err != nil {
			return err
		}
		crashpoint.Hit(StepGroupUndoDirectoryRemoved)
	}
	if err := g.store.Remove(ctx, g.UUIDObject(rec.UUID)); err != nil {
		return fmt.Errorf("journal: remove %s: %w", g.UUIDObject(rec.UUID), err)
	}
	crashpoint.Hit(StepGroupUndoUUIDRemoved)
	return nil
}

func (g *Groups) removeDirEntry(ctx context.Context, requestName, id string) error {
	key := g.nameKey(requestName)
	vals, err := g.store.GetOmapValues(ctx, g.directory, []string{key})
	if errors.Is(err, ErrObjectNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("journal: read directory %s: %w", g.directory, err)
	}
	if value, ok := vals[key]; !ok || value != id {
		return nil // gone, or the name now belongs to another group
	}
	if err := g.store.RemoveOmapKeys(ctx, g.directory, []string{key}); err != nil {
		return fmt.Errorf("journal: remove group directory entry %q: %w", requestName, err)
	}
	return nil
}

// List returns every group directory entry, for audits (ImagePoolID is
// always SamePool). Entries whose value is no UUID have an empty UUID.
func (g *Groups) List(ctx context.Context) ([]Entry, error) {
	vals, err := g.store.ListOmap(ctx, g.directory, groupKeyPrefix)
	if errors.Is(err, ErrObjectNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal: list directory %s: %w", g.directory, err)
	}
	entries := make([]Entry, 0, len(vals))
	for k, v := range vals {
		e := Entry{RequestName: strings.TrimPrefix(k, groupKeyPrefix), ImagePoolID: SamePool}
		if validUUID(v) == nil {
			e.UUID = v
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// ListUUIDs returns the UUIDs of every group UUID object, referenced or not,
// for audits. It lists the namespace: slow on large pools.
func (g *Groups) ListUUIDs(ctx context.Context) ([]string, error) {
	names, err := g.store.ListObjects(ctx, groupKeyPrefix)
	if err != nil {
		return nil, fmt.Errorf("journal: list objects: %w", err)
	}
	var ids []string
	for _, n := range names {
		if id := strings.TrimPrefix(n, groupKeyPrefix); validUUID(id) == nil {
			ids = append(ids, id)
		}
	}
	return ids, nil
}
