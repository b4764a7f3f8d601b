// Package scparams checks StorageClass and VolumeSnapshotClass parameters
// against a driver's table of known keys. Each driver lists every key
// ceph-csi documents or reads, with what the driver does with it:
// implemented, accepted as a no-op (ceph-csi ignores it too), accepted only
// with the value that means "off", or not supported yet. A key nobody knows
// is refused with a suggestion of the nearest known key (a typo must not
// silently give a different volume).
//
// The package does not pick gRPC codes: callers turn an [*Error] into
// InvalidArgument naming its Key.
package scparams

import (
	"fmt"
	"sort"
	"strings"
)

// Support says what a driver does with a key.
type Support int

const (
	// Implemented keys are used by the driver.
	Implemented Support = iota
	// NoOp keys are accepted and ignored, as ceph-csi ignores them.
	NoOp
	// OffOnly keys are accepted with one of Key.Off (the values that mean
	// the feature is off); any other value is not supported yet.
	OffOnly
	// NotSupported keys name a feature the driver does not have yet.
	NotSupported
)

// String names the support level for the docs.
func (s Support) String() string {
	switch s {
	case Implemented:
		return "implemented"
	case NoOp:
		return "accepted, no effect"
	case OffOnly:
		return "accepted when off"
	case NotSupported:
		return "not supported yet"
	}
	return fmt.Sprintf("Support(%d)", int(s))
}

// Key is one known parameter.
type Key struct {
	// Name is the parameter name; with Prefix, every name starting with
	// it.
	Name   string
	Prefix bool
	// Support says what the driver does with it.
	Support Support
	// Off lists the accepted values of an OffOnly key (compared without
	// case).
	Off []string
	// Doc says what the driver does with it, for the docs table.
	Doc string
}

// Error is a refused parameter.
type Error struct {
	// Key is the parameter's name.
	Key string
	// Msg says why, without the key.
	Msg string
}

func (e *Error) Error() string { return "parameters." + e.Key + ": " + e.Msg }

// Table is a driver's set of known keys.
type Table struct {
	keys   []Key
	byName map[string]*Key
}

// NewTable returns a table of keys. Names must be unique.
func NewTable(keys ...Key) *Table {
	t := &Table{keys: keys, byName: make(map[string]*Key, len(keys))}
	for i := range t.keys {
		k := &t.keys[i]
		if _, dup := t.byName[k.Name]; dup {
			panic("scparams: duplicate key " + k.Name)
		}
		t.byName[k.Name] = k
	}
	return t
}

// Keys returns the table's keys in their order.
func (t *Table) Keys() []Key { return append([]Key(nil), t.keys...) }

// Lookup returns the key that covers name (exact or by prefix).
func (t *Table) Lookup(name string) (Key, bool) {
	if k, ok := t.byName[name]; ok && !k.Prefix {
		return *k, true
	}
	for _, k := range t.keys {
		if k.Prefix && strings.HasPrefix(name, k.Name) {
			return k, true
		}
	}
	return Key{}, false
}

// Check validates params against the table and returns the first problem
// in key order (so the answer does not depend on map order): an unknown
// key, a key not supported yet, or an OffOnly key with a value other than
// off. Values of implemented keys are the driver's to check.
func (t *Table) Check(params map[string]string) *Error {
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := t.checkOne(name, params[name]); err != nil {
			return err
		}
	}
	return nil
}

func (t *Table) checkOne(name, value string) *Error {
	k, ok := t.Lookup(name)
	if !ok {
		return t.unknown(name)
	}
	switch k.Support {
	case NotSupported:
		return &Error{Key: name, Msg: "is not supported yet by this driver"}
	case OffOnly:
		for _, off := range k.Off {
			if strings.EqualFold(strings.TrimSpace(value), off) {
				return nil
			}
		}
		return &Error{Key: name, Msg: fmt.Sprintf("%q is not supported yet by this driver (accepted: %s)",
			value, quoteAll(k.Off))}
	}
	return nil
}

func (t *Table) unknown(name string) *Error {
	msg := "is not a known parameter"
	if near := t.Nearest(name); near != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", near)
	}
	return &Error{Key: name, Msg: msg}
}

// Nearest returns the known key closest to name by edit distance (case
// ignored), or "" when none is close: at most a third of the name's length
// apart, and at least 1.
func (t *Table) Nearest(name string) string {
	best, bestDist := "", -1
	limit := max(1, len([]rune(name))/3)
	for _, k := range t.keys {
		cand := k.Name
		if k.Prefix {
			continue
		}
		d := distance(strings.ToLower(name), strings.ToLower(cand))
		if d <= limit && (bestDist < 0 || d < bestDist) {
			best, bestDist = cand, d
		}
	}
	return best
}

// distance is the Levenshtein edit distance of a and b.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

func quoteAll(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, ", ")
}

// Markdown renders the table as a Markdown table (key, support, what the
// driver does), for the docs.
func (t *Table) Markdown() string {
	var b strings.Builder
	b.WriteString("| key | support | what the driver does |\n| --- | --- | --- |\n")
	for _, k := range t.keys {
		name := "`" + k.Name + "`"
		if k.Prefix {
			name = "`" + k.Name + "*`"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", name, k.Support, strings.ReplaceAll(k.Doc, "|", "\\|"))
	}
	return b.String()
}
