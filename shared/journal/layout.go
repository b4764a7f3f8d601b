package journal

import (
	"fmt"
	"strconv"
	"strings"
)

// Kind selects one of the two journals that live side by side in a pool.
type Kind int

const (
	// Volumes is the journal of CSI volumes (csi.volumes.<instance>).
	Volumes Kind = iota
	// Snapshots is the journal of CSI snapshots (csi.snaps.<instance>).
	Snapshots
)

// Attribute keys of the per-UUID object, as ceph-csi writes them.
const (
	KeyImageName = "csi.imagename"
	KeyImageID   = "csi.imageid"
	KeySource    = "csi.source"
	KeyOwner     = "csi.volume.owner"
	// KeyEncryptKMS and KeyEncryptionType are reserved for encrypted volumes.
	KeyEncryptKMS     = "csi.volume.encryptKMS"
	KeyEncryptionType = "csi.volume.encryptionType"
	// KeyBackingSnapshotID holds the CSI ID of the snapshot a shallow
	// CephFS volume uses, as ceph-csi writes it.
	KeyBackingSnapshotID = "csi.volume.backingsnapshotid"
	// KeyBackingSnapshotIDV0 is where this project's drivers wrote it
	// before they used ceph-csi's key; still read.
	KeyBackingSnapshotIDV0 = "csi.backingsnapshotid"

	keyVolName  = "csi.volname"
	keySnapName = "csi.snapname"
)

// SamePool is the ImagePoolID of a record whose image lives in the journal's
// own pool.
const SamePool int64 = -1

// layout holds the object and key names of one journal kind and instance.
type layout struct {
	directory     string // csi.volumes.<instance>
	nameKeyPrefix string // csi.volume. (directory key = prefix + request name)
	uuidPrefix    string // csi.volume. (per-UUID object = prefix + uuid)
	nameAttr      string // csi.volname
	defaultPrefix string // csi-vol-
}

func newLayout(kind Kind, instance string) layout {
	if kind == Snapshots {
		return layout{
			directory:     "csi.snaps." + instance,
			nameKeyPrefix: "csi.snap.",
			uuidPrefix:    "csi.snap.",
			nameAttr:      keySnapName,
			defaultPrefix: "csi-snap-",
		}
	}
	return layout{
		directory:     "csi.volumes." + instance,
		nameKeyPrefix: "csi.volume.",
		uuidPrefix:    "csi.volume.",
		nameAttr:      keyVolName,
		defaultPrefix: "csi-vol-",
	}
}

func (l layout) nameKey(requestName string) string { return l.nameKeyPrefix + requestName }
func (l layout) uuidObject(uuid string) string     { return l.uuidPrefix + uuid }

// encodeDirValue renders the directory value: the UUID, or
// "<16-hex pool id>/<uuid>" when the image lives in another pool.
func encodeDirValue(poolID int64, uuid string) string {
	if poolID == SamePool {
		return uuid
	}
	return fmt.Sprintf("%016x/%s", poolID, uuid)
}

// decodeDirValue parses a directory value written by us or by ceph-csi.
func decodeDirValue(v string) (poolID int64, uuid string, err error) {
	pool, id, found := strings.Cut(v, "/")
	if !found {
		return SamePool, v, validUUID(v)
	}
	if len(pool) != 16 {
		return 0, "", fmt.Errorf("journal: directory value %q: pool ID must be 16 hex digits", v)
	}
	p, perr := strconv.ParseUint(pool, 16, 63)
	if perr != nil {
		return 0, "", fmt.Errorf("journal: directory value %q: bad pool ID", v)
	}
	return int64(p), id, validUUID(id)
}

func validUUID(s string) error {
	if len(s) != 36 {
		return fmt.Errorf("journal: %q is not a UUID", s)
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return fmt.Errorf("journal: %q is not a UUID", s)
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
				return fmt.Errorf("journal: %q is not a UUID", s)
			}
		}
	}
	return nil
}
