// Package reftracker reads and writes reference trackers in ceph-csi's
// on-cluster layout (its internal/util/reftracker, format version 1), so
// that ceph-csi and this driver each honour the other's references.
//
// A tracker is one RADOS object:
//   - extended attribute csi.ceph.com/rt-version: the format version, a
//     4-byte big-endian unsigned integer (1);
//   - data: the reference count, a 4-byte big-endian unsigned integer, the
//     number of omap keys of type Normal;
//   - omap: one key per reference, its value the 1-byte type: 1 Normal, 2
//     Masked (a reference that was dropped but must not be added again).
//
// The object exists while it holds a reference; the write that brings the
// count to zero removes it. Every change asserts the object version it was
// read at, so concurrent writers (other processes, ceph-csi) never lose an
// update: a lost race is retried from a fresh read.
package reftracker

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/seed-6a310834/ceph-csi/shared/journal"
)

// Layout constants, as ceph-csi writes them.
const (
	// VersionXattr holds the format version.
	VersionXattr = "csi.ceph.com/rt-version"
	// FormatV1 is the only format.
	FormatV1  uint32 = 1
	countSize        = 4
)

// Type is a reference's type.
type Type byte

// Reference types.
const (
	Normal Type = 1
	Masked Type = 2
)

// ErrCorrupt means a tracker this package cannot read (unknown version,
// bad sizes, a count that does not match).
var ErrCorrupt = errors.New("reftracker: corrupt or unknown tracker object")

// maxAttempts bounds the retries of a change that lost a race.
const maxAttempts = 8

// Tracker is a tracker object as read.
type Tracker struct {
	version uint64
	// Count is the number of Normal references.
	Count uint32
	// Refs holds the types of the references read.
	Refs map[string]Type
}

// Read reads tracker oid with the references named by keys (all when
// nil). A missing tracker returns journal.ErrObjectNotFound.
func Read(ctx context.Context, st journal.VersionedStore, oid string, keys []string) (*Tracker, error) {
	obj, err := st.ReadVersioned(ctx, oid, VersionXattr, countSize, keys)
	if err != nil {
		return nil, err
	}
	if len(obj.Xattr) != 4 || binary.BigEndian.Uint32(obj.Xattr) != FormatV1 {
		return nil, fmt.Errorf("%w: %s: version attribute %x", ErrCorrupt, oid, obj.Xattr)
	}
	if len(obj.Data) != countSize {
		return nil, fmt.Errorf("%w: %s: reference count of %d bytes", ErrCorrupt, oid, len(obj.Data))
	}
	t := &Tracker{version: obj.Version, Count: binary.BigEndian.Uint32(obj.Data), Refs: map[string]Type{}}
	for k, v := range obj.Omap {
		if len(v) != 1 || (Type(v[0]) != Normal && Type(v[0]) != Masked) {
			return nil, fmt.Errorf("%w: %s: reference %q has type %x", ErrCorrupt, oid, k, v)
		}
		t.Refs[k] = Type(v[0])
	}
	return t, nil
}

// Normals returns the sorted keys of t's Normal references.
func (t *Tracker) Normals() []string {
	var out []string
	for k, typ := range t.Refs {
		if typ == Normal {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func countBytes(n uint32) []byte {
	b := make([]byte, countSize)
	binary.BigEndian.PutUint32(b, n)
	return b
}

// Add adds refs as Normal references to tracker oid, creating it when
// missing. References present already (Normal or Masked) are left as they
// are, as ceph-csi does. Idempotent.
func Add(ctx context.Context, st journal.VersionedStore, oid string, refs ...string) error {
	for range maxAttempts {
		err := add(ctx, st, oid, refs)
		if !errors.Is(err, journal.ErrVersionChanged) && !errors.Is(err, journal.ErrObjectExists) {
			return err
		}
	}
	return fmt.Errorf("reftracker: %s: %w after %d attempts", oid, journal.ErrVersionChanged, maxAttempts)
}

func add(ctx context.Context, st journal.VersionedStore, oid string, refs []string) error {
	t, err := Read(ctx, st, oid, refs)
	if errors.Is(err, journal.ErrObjectNotFound) {
		omap := make(map[string][]byte, len(refs))
		for _, r := range refs {
			omap[r] = []byte{byte(Normal)}
		}
		ver := make([]byte, 4)
		binary.BigEndian.PutUint32(ver, FormatV1)
		return st.CreateVersioned(ctx, oid, VersionXattr, ver, countBytes(uint32(len(omap))), omap)
	}
	if err != nil {
		return err
	}
	set := map[string][]byte{}
	for _, r := range refs {
		if _, ok := t.Refs[r]; !ok {
			set[r] = []byte{byte(Normal)}
		}
	}
	if len(set) == 0 {
		return nil
	}
	return st.WriteVersioned(ctx, oid, t.version, journal.VersionedWrite{
		Data: countBytes(t.Count + uint32(len(set))), Set: set})
}

// Remove applies refs to tracker oid: a Normal entry removes the
// reference, a Masked entry masks it (recording it as Masked even if it
// was not there). It reports whether the tracker is gone afterwards (it
// was missing, or this change brought its count to zero). When the change
// would remove the object, beforeDelete (if not nil) runs first, so that
// what the last reference protected is cleaned up before the tracker
// stops saying so: a crash between the two repeats both.
func Remove(ctx context.Context, st journal.VersionedStore, oid string, refs map[string]Type, beforeDelete func() error) (bool, error) {
	for range maxAttempts {
		gone, err := remove(ctx, st, oid, refs, beforeDelete)
		if !errors.Is(err, journal.ErrVersionChanged) {
			return gone, err
		}
	}
	return false, fmt.Errorf("reftracker: %s: %w after %d attempts", oid, journal.ErrVersionChanged, maxAttempts)
}

func remove(ctx context.Context, st journal.VersionedStore, oid string, refs map[string]Type, beforeDelete func() error) (bool, error) {
	keys := make([]string, 0, len(refs))
	for k := range refs {
		keys = append(keys, k)
	}
	t, err := Read(ctx, st, oid, keys)
	if errors.Is(err, journal.ErrObjectNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	w, dropped := plan(t, refs)
	if len(w.Remove) == 0 && len(w.Set) == 0 {
		return false, nil
	}
	if dropped > t.Count {
		return false, fmt.Errorf("%w: %s: count %d below the %d references dropped", ErrCorrupt, oid, t.Count, dropped)
	}
	if t.Count == dropped {
		if beforeDelete != nil {
			if err := beforeDelete(); err != nil {
				return false, err
			}
		}
		return true, st.WriteVersioned(ctx, oid, t.version, journal.VersionedWrite{Delete: true})
	}
	w.Data = countBytes(t.Count - dropped)
	return false, st.WriteVersioned(ctx, oid, t.version, w)
}

// plan returns the omap changes of refs on t and how many Normal
// references they drop.
func plan(t *Tracker, refs map[string]Type) (journal.VersionedWrite, uint32) {
	w := journal.VersionedWrite{Set: map[string][]byte{}}
	var dropped uint32
	for k, want := range refs {
		have, found := t.Refs[k]
		switch {
		case want == Normal && found:
			w.Remove = append(w.Remove, k)
		case want == Masked && have != Masked:
			w.Set[k] = []byte{byte(Masked)}
		}
		if found && have == Normal {
			dropped++
		}
	}
	return w, dropped
}
