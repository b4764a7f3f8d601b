package csifuzz

import (
	"maps"
	"path/filepath"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/google/uuid"

	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// Objects are the IDs of objects that exist in the target's fakes, from
// which ObjectID derives valid, foreign and broken IDs.
type Objects struct {
	Volume   string
	Snapshot string
}

// Swap returns o with the roles exchanged, for requests about snapshots:
// ObjectID's "existing volume" mode then gives the snapshot.
func (o Objects) Swap() Objects { return Objects{Volume: o.Snapshot, Snapshot: o.Volume} }

// ObjectID returns the ID a request names, by IDMode%8:
//
//	0 the raw ID
//	1 the existing volume, 2 the existing snapshot
//	3 the existing object's ID with the raw ID appended
//	4 the existing object's location and UUID on the cluster named by the raw ID
//	5 a well-formed ID of an unknown UUID
//	6 a well-formed ID of an unknown location
//	7 the existing object's ID with one byte replaced
//
// Modes 3-7 start from the snapshot when IDMode&8 is set, else the volume.
// Where the ID cannot be encoded (e.g. a cluster ID too long) the raw ID is
// used.
func (in Input) ObjectID(o Objects) string {
	base := o.Volume
	if in.IDMode&8 != 0 {
		base = o.Snapshot
	}
	switch in.IDMode % 8 {
	case 1:
		return o.Volume
	case 2:
		return o.Snapshot
	case 3:
		return base + in.ID
	case 4:
		return in.reencode(base, func(id *volid.ID) { id.ClusterID = in.ID })
	case 5:
		return in.reencode(base, func(id *volid.ID) { id.UUID = uuid.NewSHA1(uuid.NameSpaceOID, []byte(in.ID)).String() })
	case 6:
		return in.reencode(base, func(id *volid.ID) { id.LocationID = 1000 + int64(len(in.ID)) })
	case 7:
		return mutate(base, in.ID)
	}
	return in.ID
}

func (in Input) reencode(base string, change func(*volid.ID)) string {
	id, err := volid.Decode(base)
	if err != nil {
		return in.ID
	}
	change(&id)
	s, err := id.Encode()
	if err != nil {
		return in.ID
	}
	return s
}

// mutate replaces one byte of base, chosen by the length of with, by the
// first byte of with (or 'x').
func mutate(base, with string) string {
	if base == "" {
		return with
	}
	b := []byte(base)
	c := byte('x')
	if with != "" {
		c = with[0]
	}
	b[len(with)%len(b)] = c
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// Parameters returns the request's parameters: the base parameters when
// FlagBaseParams is set, overlaid with the pairs of Params.
func (in Input) Parameters(base map[string]string) map[string]string {
	out := map[string]string{}
	if in.Has(FlagBaseParams) {
		maps.Copy(out, base)
	}
	for _, kv := range strings.Split(in.Params, ";") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		out[k] = v
	}
	return out
}

// Range returns the capacity range, nil with FlagNoRange.
func (in Input) Range() *csi.CapacityRange {
	if in.Has(FlagNoRange) {
		return nil
	}
	return &csi.CapacityRange{RequiredBytes: in.Required, LimitBytes: in.Limit}
}

// Source returns the content source by Flags bits 2-3: none, the snapshot
// id, the volume id, or a source that names neither.
func (in Input) Source(id string) *csi.VolumeContentSource {
	switch (in.Flags >> flagSourceShift) % 4 {
	case 1:
		return &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
			Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: id}}}
	case 2:
		return &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{
			Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: id}}}
	case 3:
		return &csi.VolumeContentSource{}
	}
	return nil
}

// accessMode returns the access mode by Mode%10: the eight defined modes,
// no access mode at all (8), or an undefined value (9).
func (in Input) accessMode() *csi.VolumeCapability_AccessMode {
	switch m := in.Mode % 10; m {
	case 8:
		return nil
	case 9:
		return &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_Mode(100 + int32(in.Mode))}
	default:
		return &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_Mode(m)}
	}
}

func (in Input) mount(fsType string) *csi.VolumeCapability {
	m := &csi.VolumeCapability_MountVolume{FsType: fsType}
	if in.Caps&8 != 0 {
		m.MountFlags = []string{"ro", in.Name}
	}
	return &csi.VolumeCapability{AccessType: &csi.VolumeCapability_Mount{Mount: m}, AccessMode: in.accessMode()}
}

func (in Input) block() *csi.VolumeCapability {
	return &csi.VolumeCapability{AccessType: &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}},
		AccessMode: in.accessMode()}
}

// Capabilities returns the capabilities by Caps%8:
//
//	0 none, 1 mount ext4, 2 block, 3 mount with the Name as fs_type,
//	4 no access type, 5 a nil capability, 6 mount and block together,
//	7 mount xfs and mount ext4 with the next access mode
//
// with the access mode of Mode; Caps&8 adds mount flags ("ro" and Name).
func (in Input) Capabilities() []*csi.VolumeCapability {
	switch in.Caps % 8 {
	case 1:
		return []*csi.VolumeCapability{in.mount("ext4")}
	case 2:
		return []*csi.VolumeCapability{in.block()}
	case 3:
		return []*csi.VolumeCapability{in.mount(in.Name)}
	case 4:
		return []*csi.VolumeCapability{{AccessMode: in.accessMode()}}
	case 5:
		return []*csi.VolumeCapability{nil}
	case 6:
		return []*csi.VolumeCapability{in.mount(""), in.block()}
	case 7:
		next := in
		next.Mode++
		return []*csi.VolumeCapability{in.mount("xfs"), next.mount("ext4")}
	}
	return nil
}

// Capability returns the first of Capabilities, or nil.
func (in Input) Capability() *csi.VolumeCapability {
	if caps := in.Capabilities(); len(caps) > 0 {
		return caps[0]
	}
	return nil
}

// Credentials are valid secrets: the field names and their values.
type Credentials struct {
	IDField, KeyField string
	ID, Key           string
}

// WrongKey is a well-formed Ceph key that belongs to nobody.
const WrongKey = "AQBZdAlrAAAAABAAd3JvbmdrZXl3cm9uZ2tleQ=="

// Secrets returns the request's secrets by SecretMode%8:
//
//	0 valid, 1 none, 2 no key, 3 an empty key, 4 the Name as ID and the
//	raw ID as key, 5 ID and key swapped, 6 a key that injects a keyring
//	section, 7 a well-formed key of nobody
//
// SecretMode&8 adds an unknown secret.
func (in Input) Secrets(c Credentials) map[string]string {
	var out map[string]string
	switch in.SecretMode % 8 {
	case 0:
		out = map[string]string{c.IDField: c.ID, c.KeyField: c.Key}
	case 1:
		return nil
	case 2:
		out = map[string]string{c.IDField: c.ID}
	case 3:
		out = map[string]string{c.IDField: c.ID, c.KeyField: ""}
	case 4:
		out = map[string]string{c.IDField: in.Name, c.KeyField: in.ID}
	case 5:
		out = map[string]string{c.IDField: c.Key, c.KeyField: c.ID}
	case 6:
		out = map[string]string{c.IDField: c.ID, c.KeyField: c.Key + "\n[client.admin]\n\tkey = " + c.Key}
	case 7:
		out = map[string]string{c.IDField: c.ID, c.KeyField: WrongKey}
	}
	if in.SecretMode&8 != 0 {
		out["unknownSecret"] = in.Name
	}
	return out
}

// Path returns a path of a node request, by the nibble of Paths that
// second selects (the high one when second), modulo 8:
//
//	0 empty, 1 existing, 2 dir/<Name as one element>, 3 the same relative
//	to the working directory, 4 a path with a NUL byte, 5 an element of 300
//	bytes, 6 a path longer than PATH_MAX, 7 existing with a trailing slash
//
// Every absolute path is inside dir; the relative one is inside the
// working directory, which the target must point at a directory of its
// own.
func (in Input) Path(second bool, dir, existing string) string {
	mode := in.Paths
	if second {
		mode >>= 4
	}
	elem := pathElement(in.Name)
	switch mode % 8 {
	case 1:
		return existing
	case 2:
		return filepath.Join(dir, elem)
	case 3:
		return elem
	case 4:
		return filepath.Join(dir, "nul\x00"+elem)
	case 5:
		return filepath.Join(dir, strings.Repeat("p", 300))
	case 6:
		return dir + strings.Repeat("/d", 2100)
	case 7:
		return existing + "/"
	}
	return ""
}

// pathElement makes name a single path element: no '/', not "." or "..",
// not empty.
func pathElement(name string) string {
	e := strings.ReplaceAll(name, "/", "_")
	if e == "" || e == "." || e == ".." {
		return "x" + e
	}
	return e
}
