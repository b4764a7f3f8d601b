package audit

import (
	"slices"
	"strings"
)

// uuidLen is the length of a textual UUID.
const uuidLen = 36

// Default name prefixes of the drivers' objects (the journal's defaults).
const (
	VolumePrefix   = "csi-vol-"
	SnapshotPrefix = "csi-snap-"
	// ClonePrefix names the temporary snapshot a clone from a volume is
	// taken from: csi-clone-<the new volume's UUID>.
	ClonePrefix = "csi-clone-"
)

// Prefixes are the name prefixes of one kind of object of ours (volumes:
// csi-vol- and the configured volumeNamePrefix values).
type Prefixes []string

// NewPrefixes returns def plus the extra prefixes, without empty or
// duplicate ones.
func NewPrefixes(def string, extra ...string) Prefixes {
	p := Prefixes{def}
	for _, e := range extra {
		if e != "" && !slices.Contains(p, e) {
			p = append(p, e)
		}
	}
	return p
}

// Match reports whether name is exactly one of the prefixes followed by a
// UUID, and returns that UUID. A name with a longer or other prefix does
// not match: only names the driver itself could have chosen do.
func (p Prefixes) Match(name string) (string, bool) {
	if len(name) <= uuidLen {
		return "", false
	}
	prefix, id := name[:len(name)-uuidLen], name[len(name)-uuidLen:]
	if !slices.Contains(p, prefix) || !IsUUID(id) {
		return "", false
	}
	return id, true
}

// IsUUID reports whether s is a textual UUID (8-4-4-4-12 hex digits).
func IsUUID(s string) bool {
	if len(s) != uuidLen {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
				return false
			}
		}
	}
	return true
}
