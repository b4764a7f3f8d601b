package controller

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/google/uuid"

	"github.com/seed-6a310834/ceph-csi/shared/crashpoint"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
)

// groupRecord is the journal record of a volume group snapshot, in
// ceph-csi's layout for volume groups (internal/journal volumegroupjournal):
//
//   - directory object csi.groups.<instance>, omap key
//     csi.volume.group.<request name> = <uuid>;
//   - per-UUID object csi.volume.group.<uuid> with csi.volname (the request
//     name), csi.groupname (csi-vol-group-<uuid>, the RBD group's name),
//     csi.creationtime (RFC 3339, time.Time's text form) and one key per
//     member: <source volume ID> = <member snapshot ID>.
type groupRecord struct {
	UUID        string
	RequestName string
	GroupName   string
	Created     time.Time
	// Members maps each source volume ID to its member snapshot's ID.
	Members map[string]string
}

// groupJournal keeps the group snapshot records. groupOmap implements it
// over one pool's journal store; the shared group journal layer replaces
// it once it lands.
type groupJournal interface {
	// Lookup returns the record of a request name; none: journal.ErrNotFound.
	Lookup(ctx context.Context, name string) (*groupRecord, error)
	// Reserve records a name with its members in one exclusive create,
	// then the directory entry; a record of that name left by a crashed
	// attempt is adopted. Members must come with it (a retry compares
	// them).
	Reserve(ctx context.Context, name string, members map[string]string) (*groupRecord, error)
	// Get reads the record of a UUID; none: journal.ErrNotFound.
	Get(ctx context.Context, id string) (*groupRecord, error)
	// Undo removes the directory entry, then the UUID object. Idempotent.
	Undo(ctx context.Context, rec *groupRecord) error
	// List returns every directory entry (request name -> UUID), and
	// Objects every UUID of a per-UUID object (the audit's view).
	List(ctx context.Context) (map[string]string, error)
	Objects(ctx context.Context) ([]string, error)
}

// Keys and names of ceph-csi's volume group journal.
const (
	groupDirPrefix    = "csi.groups."
	groupKeyPrefix    = "csi.volume.group."
	groupNamePrefix   = "csi-vol-group-"
	groupKeyName      = "csi.volname"
	groupKeyGroupName = "csi.groupname"
	groupKeyCreated   = "csi.creationtime"
)

// groupUUIDNamespace seeds the name-derived group UUIDs: the retry of a
// crashed create and a twin land on the same UUID object.
var groupUUIDNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("github.com/seed-6a310834/ceph-csi/journal/groups"))

// groupOmap is groupJournal over one journal store.
type groupOmap struct {
	store    journal.ObjectStore
	instance string
}

func newGroupJournal(store journal.ObjectStore, instance string) *groupOmap {
	return &groupOmap{store: store, instance: instance}
}

func (g *groupOmap) dir() string { return groupDirPrefix + g.instance }

// Lookup implements groupJournal. A directory entry whose UUID object is
// gone (an Undo that died between its two writes) is finished off.
func (g *groupOmap) Lookup(ctx context.Context, name string) (*groupRecord, error) {
	key := groupKeyPrefix + name
	vals, err := g.store.GetOmapValues(ctx, g.dir(), []string{key})
	if errors.Is(err, journal.ErrObjectNotFound) || (err == nil && vals[key] == "") {
		return nil, fmt.Errorf("group snapshot %q: %w", name, journal.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	rec, err := g.Get(ctx, vals[key])
	if errors.Is(err, journal.ErrNotFound) {
		if err := g.store.RemoveOmapKeys(ctx, g.dir(), []string{key}); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("group snapshot %q: %w", name, journal.ErrNotFound)
	}
	return rec, err
}

// Get implements groupJournal.
func (g *groupOmap) Get(ctx context.Context, id string) (*groupRecord, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, fmt.Errorf("group snapshot UUID %q: %w", id, journal.ErrNotFound)
	}
	vals, err := g.store.ListOmap(ctx, groupKeyPrefix+id, "")
	if errors.Is(err, journal.ErrObjectNotFound) || (err == nil && len(vals) == 0) {
		return nil, fmt.Errorf("group snapshot UUID %s: %w", id, journal.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	rec := &groupRecord{UUID: id, RequestName: vals[groupKeyName], GroupName: vals[groupKeyGroupName],
		Members: map[string]string{}}
	_ = rec.Created.UnmarshalText([]byte(vals[groupKeyCreated]))
	for k, v := range vals {
		if k != groupKeyName && k != groupKeyGroupName && k != groupKeyCreated {
			rec.Members[k] = v
		}
	}
	if rec.GroupName == "" {
		rec.GroupName = groupNamePrefix + id
	}
	return rec, nil
}

// Reserve implements groupJournal.
func (g *groupOmap) Reserve(ctx context.Context, name string, members map[string]string) (*groupRecord, error) {
	id := uuid.NewSHA1(groupUUIDNamespace, []byte(g.instance+"/"+name)).String()
	for attempt := 0; ; attempt++ {
		_, err := g.claim(ctx, id, name, members)
		if err == nil {
			break
		}
		if !errors.Is(err, journal.ErrObjectExists) || attempt >= 8 {
			return nil, err
		}
		id = uuid.NewString() // held by another name (records of other software)
	}
	if err := g.store.SetOmap(ctx, g.dir(), map[string]string{groupKeyPrefix + name: id}); err != nil {
		return nil, err
	}
	crashpoint.Hit(journal.StepReserveDirectoryWritten)
	return g.Get(ctx, id)
}

// claim creates the UUID object, or adopts it when a crashed attempt of
// the same name made it. Another name's: journal.ErrObjectExists.
func (g *groupOmap) claim(ctx context.Context, id, name string, members map[string]string) (*groupRecord, error) {
	created, _ := time.Now().UTC().MarshalText()
	attrs := maps.Clone(members)
	maps.Copy(attrs, map[string]string{groupKeyName: name, groupKeyGroupName: groupNamePrefix + id,
		groupKeyCreated: string(created)})
	err := g.store.CreateWithOmap(ctx, groupKeyPrefix+id, attrs)
	if err == nil {
		crashpoint.Hit(journal.StepReserveUUIDCreated)
		return nil, nil
	}
	if !errors.Is(err, journal.ErrObjectExists) {
		return nil, err
	}
	rec, gerr := g.Get(ctx, id)
	if gerr == nil && rec.RequestName == name {
		return rec, nil
	}
	return nil, err
}

// Undo implements groupJournal.
func (g *groupOmap) Undo(ctx context.Context, rec *groupRecord) error {
	if rec.RequestName != "" {
		if err := g.store.RemoveOmapKeys(ctx, g.dir(), []string{groupKeyPrefix + rec.RequestName}); err != nil {
			return err
		}
		crashpoint.Hit(journal.StepUndoDirectoryRemoved)
	}
	if err := g.store.Remove(ctx, groupKeyPrefix+rec.UUID); err != nil {
		return err
	}
	crashpoint.Hit(journal.StepUndoUUIDRemoved)
	return nil
}

// List implements groupJournal.
func (g *groupOmap) List(ctx context.Context) (map[string]string, error) {
	vals, err := g.store.ListOmap(ctx, g.dir(), groupKeyPrefix)
	if errors.Is(err, journal.ErrObjectNotFound) {
		return map[string]string{}, nil
	}
	out := map[string]string{}
	for k, v := range vals {
		out[k[len(groupKeyPrefix):]] = v
	}
	return out, err
}

// Objects implements groupJournal.
func (g *groupOmap) Objects(ctx context.Context) ([]string, error) {
	names, err := g.store.ListObjects(ctx, groupKeyPrefix)
	ids := make([]string, 0, len(names))
	for _, n := range names {
		if id := n[len(groupKeyPrefix):]; uuid.Validate(id) == nil {
			ids = append(ids, id)
		}
	}
	return ids, err
}
