// Package groupjournal keeps the records of volume group snapshots in
// ceph-csi's layout for volume groups (its internal/journal
// volumegroupjournal), so that ceph-csi's group snapshots are readable and
// ours readable by ceph-csi. It stands in for the shared group journal
// layer until that lands in shared/.
package groupjournal

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

// Record is the journal record of a volume group snapshot, in
// ceph-csi's layout for volume groups (internal/journal volumegroupjournal):
//
//   - directory object csi.groups.<instance>, omap key
//     csi.volume.group.<request name> = <uuid>;
//   - per-UUID object csi.volume.group.<uuid> with csi.volname (the request
//     name), csi.groupname (csi-vol-group-<uuid>, the RBD group's name),
//     csi.creationtime (RFC 3339, time.Time's text form) and one key per
//     member: <source volume ID> = <member snapshot ID>.
type Record struct {
	UUID        string
	RequestName string
	GroupName   string
	Created     time.Time
	// Members maps each source volume ID to its member snapshot's ID.
	Members map[string]string
}

// Keys and names of ceph-csi's volume group journal.
const (
	// DirPrefix + instance is the directory object.
	DirPrefix = "csi.groups."
	// KeyPrefix prefixes the directory keys (+ request name) and the
	// per-UUID objects (+ UUID).
	KeyPrefix = "csi.volume.group."
	// NamePrefix + UUID is the RBD group's name.
	NamePrefix        = "csi-vol-group-"
	groupKeyName      = "csi.volname"
	groupKeyGroupName = "csi.groupname"
	groupKeyCreated   = "csi.creationtime"
)

// groupUUIDNamespace seeds the name-derived group UUIDs: the retry of a
// crashed create and a twin land on the same UUID object.
var groupUUIDNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("github.com/seed-6a310834/ceph-csi/journal/groups"))

// Journal is the group journal of one instance in one pool's journal store.
type Journal struct {
	store    journal.ObjectStore
	instance string
}

// New returns the group journal of instance in store.
func New(store journal.ObjectStore, instance string) *Journal {
	return &Journal{store: store, instance: instance}
}

// Dir returns the name of the directory object.
func (g *Journal) Dir() string { return DirPrefix + g.instance }

// Lookup returns the record of a request name; none: journal.ErrNotFound.
// A directory entry whose UUID object is
// gone (an Undo that died between its two writes) is finished off.
func (g *Journal) Lookup(ctx context.Context, name string) (*Record, error) {
	key := KeyPrefix + name
	vals, err := g.store.GetOmapValues(ctx, g.Dir(), []string{key})
	if errors.Is(err, journal.ErrObjectNotFound) || (err == nil && vals[key] == "") {
		return nil, fmt.Errorf("group snapshot %q: %w", name, journal.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	rec, err := g.Get(ctx, vals[key])
	if errors.Is(err, journal.ErrNotFound) {
		if err := g.store.RemoveOmapKeys(ctx, g.Dir(), []string{key}); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("group snapshot %q: %w", name, journal.ErrNotFound)
	}
	return rec, err
}

// Get reads the record of a UUID; none: journal.ErrNotFound.
func (g *Journal) Get(ctx context.Context, id string) (*Record, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, fmt.Errorf("group snapshot UUID %q: %w", id, journal.ErrNotFound)
	}
	vals, err := g.store.ListOmap(ctx, KeyPrefix+id, "")
	if errors.Is(err, journal.ErrObjectNotFound) || (err == nil && len(vals) == 0) {
		return nil, fmt.Errorf("group snapshot UUID %s: %w", id, journal.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	rec := &Record{UUID: id, RequestName: vals[groupKeyName], GroupName: vals[groupKeyGroupName],
		Members: map[string]string{}}
	_ = rec.Created.UnmarshalText([]byte(vals[groupKeyCreated]))
	for k, v := range vals {
		if k != groupKeyName && k != groupKeyGroupName && k != groupKeyCreated {
			rec.Members[k] = v
		}
	}
	if rec.GroupName == "" {
		rec.GroupName = NamePrefix + id
	}
	return rec, nil
}

// Reserve records a name with its members in one exclusive create of the
// UUID object (derived from the name), then the directory entry; a UUID
// object of that name left by a crashed attempt is adopted.
func (g *Journal) Reserve(ctx context.Context, name string, members map[string]string) (*Record, error) {
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
	if err := g.store.SetOmap(ctx, g.Dir(), map[string]string{KeyPrefix + name: id}); err != nil {
		return nil, err
	}
	crashpoint.Hit(journal.StepReserveDirectoryWritten)
	return g.Get(ctx, id)
}

// claim creates the UUID object, or adopts it when a crashed attempt of
// the same name made it. Another name's: journal.ErrObjectExists.
func (g *Journal) claim(ctx context.Context, id, name string, members map[string]string) (*Record, error) {
	created, _ := time.Now().UTC().MarshalText()
	attrs := maps.Clone(members)
	maps.Copy(attrs, map[string]string{groupKeyName: name, groupKeyGroupName: NamePrefix + id,
		groupKeyCreated: string(created)})
	err := g.store.CreateWithOmap(ctx, KeyPrefix+id, attrs)
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

// Undo removes the directory entry, then the UUID object. Idempotent.
func (g *Journal) Undo(ctx context.Context, rec *Record) error {
	if rec.RequestName != "" {
		if err := g.store.RemoveOmapKeys(ctx, g.Dir(), []string{KeyPrefix + rec.RequestName}); err != nil {
			return err
		}
		crashpoint.Hit(journal.StepUndoDirectoryRemoved)
	}
	if err := g.store.Remove(ctx, KeyPrefix+rec.UUID); err != nil {
		return err
	}
	crashpoint.Hit(journal.StepUndoUUIDRemoved)
	return nil
}

// List returns every directory entry (request name -> UUID).
func (g *Journal) List(ctx context.Context) (map[string]string, error) {
	vals, err := g.store.ListOmap(ctx, g.Dir(), KeyPrefix)
	if errors.Is(err, journal.ErrObjectNotFound) {
		return map[string]string{}, nil
	}
	out := map[string]string{}
	for k, v := range vals {
		out[k[len(KeyPrefix):]] = v
	}
	return out, err
}

// Objects returns the UUID of every per-UUID object (for audits).
func (g *Journal) Objects(ctx context.Context) ([]string, error) {
	names, err := g.store.ListObjects(ctx, KeyPrefix)
	ids := make([]string, 0, len(names))
	for _, n := range names {
		if id := n[len(KeyPrefix):]; uuid.Validate(id) == nil {
			ids = append(ids, id)
		}
	}
	return ids, err
}
