package journal

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// The read-only views below serve audits (the orphan audit subcommands of
// the drivers); the drivers' request paths do not use them.

// Instances returns the instances whose directory of kind lives in store
// (csi.volumes.<instance> or csi.snaps.<instance>). It lists the whole
// namespace: slow on large pools, meant for audits only.
func Instances(ctx context.Context, store ObjectStore, kind Kind) ([]string, error) {
	prefix := newLayout(kind, "").directory
	names, err := store.ListObjects(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("journal: list directories: %w", err)
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		if inst := strings.TrimPrefix(n, prefix); inst != "" {
			out = append(out, inst)
		}
	}
	return out, nil
}

// Entry returns the directory entry of requestName without touching
// anything (Lookup, by contrast, removes a dangling entry).
//
// Not found: ErrNotFound. An entry whose value cannot be parsed is returned
// with an empty UUID. Cost: 1 round trip.
func (j *Journal) Entry(ctx context.Context, requestName string) (*Entry, error) {
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
	e := &Entry{RequestName: requestName}
	if pool, id, err := decodeDirValue(value); err == nil {
		e.UUID, e.ImagePoolID = id, pool
	}
	return e, nil
}

// DirectoryObject returns the name of the journal's directory object.
func (j *Journal) DirectoryObject() string { return j.l.directory }

// UUIDObject returns the name of the per-UUID object of id.
func (j *Journal) UUIDObject(id string) string { return j.l.uuidObject(id) }
