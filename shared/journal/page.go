package journal

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// PagedStore is implemented by object stores that can read a bounded,
// ordered slice of an object's omap (the RADOS adapter and memstore). The
// journal uses it for Page; other stores fall back to ListOmap.
type PagedStore interface {
	// ListOmapAfter returns at most max pairs of oid whose key starts with
	// prefix and sorts after startAfter ("" : from the first), in key
	// order. A missing object returns ErrObjectNotFound.
	ListOmapAfter(ctx context.Context, oid, prefix, startAfter string, max int) ([]KV, error)
}

// KV is one omap pair.
type KV struct {
	Key   string
	Value string
}

// Page returns at most n directory entries whose request names sort after
// after ("" : from the first), in request-name order: one bounded omap
// read, so a listing pages through the journal instead of reading it
// whole. Entries whose value cannot be parsed have an empty UUID.
// Read-only; a missing directory gives no entries.
func (j *Journal) Page(ctx context.Context, after string, n int) ([]Entry, error) {
	if n <= 0 {
		return nil, errors.New("journal: page size must be positive")
	}
	startAfter := ""
	if after != "" {
		startAfter = j.l.nameKey(after)
	}
	pairs, err := j.pagePairs(ctx, startAfter, n)
	if errors.Is(err, ErrObjectNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal: list directory %s: %w", j.l.directory, err)
	}
	entries := make([]Entry, 0, len(pairs))
	for _, kv := range pairs {
		e := Entry{RequestName: strings.TrimPrefix(kv.Key, j.l.nameKeyPrefix)}
		if pool, id, err := decodeDirValue(kv.Value); err == nil {
			e.UUID, e.ImagePoolID = id, pool
		}
		entries = append(entries, e)
	}
	return entries, nil
}

func (j *Journal) pagePairs(ctx context.Context, startAfter string, n int) ([]KV, error) {
	if ps, ok := j.store.(PagedStore); ok {
		return ps.ListOmapAfter(ctx, j.l.directory, j.l.nameKeyPrefix, startAfter, n)
	}
	all, err := j.store.ListOmap(ctx, j.l.directory, j.l.nameKeyPrefix)
	if err != nil {
		return nil, err
	}
	return SlicePairs(all, startAfter, n), nil
}

// SlicePairs returns at most n pairs of m with keys after startAfter, in
// key order: the reference semantics of PagedStore.ListOmapAfter for
// stores that hold their omap in a map.
func SlicePairs(m map[string]string, startAfter string, n int) []KV {
	keys := make([]string, 0, len(m))
	for k := range m {
		if k > startAfter {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if len(keys) > n {
		keys = keys[:n]
	}
	out := make([]KV, 0, len(keys))
	for _, k := range keys {
		out = append(out, KV{Key: k, Value: m[k]})
	}
	return out
}
