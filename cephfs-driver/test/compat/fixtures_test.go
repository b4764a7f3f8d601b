package compat

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/google/uuid"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/test/rig"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// subvolumeOf returns the subvolume name of a volume the driver created
// (csi-vol-<journal UUID>, as ceph-csi names it too).
func subvolumeOf(t *testing.T, volID string) string {
	t.Helper()
	id, err := volid.Decode(volID)
	if err != nil {
		t.Fatal(err)
	}
	return "csi-vol-" + id.UUID
}

// encodeID returns the CSI ID of journal UUID id on the test's file system.
func (e *env) encodeID(id string) string {
	e.T.Helper()
	s, err := volid.ID{ClusterID: e.Cluster.FSID, LocationID: e.FS.ID, UUID: id}.Encode()
	if err != nil {
		e.T.Fatal(err)
	}
	return s
}

// setOmap writes omap pairs on an object of the csi namespace.
func (e *env) setOmap(oid string, kv map[string]string) {
	e.T.Helper()
	if err := e.Store.SetOmap(context.Background(), oid, kv); err != nil {
		e.T.Fatalf("write %s: %v", oid, err)
	}
}

// cephCSISnapshot does what ceph-csi's CreateSnapshot (v3.x) does for
// request name on volume vol: it takes the subvolume snapshot
// csi-snap-<uuid> and writes the snapshot journal: the directory key
// csi.snap.<name> = <uuid> in csi.snaps.<instance>, and the object
// csi.snap.<uuid> with csi.snapname, csi.imagename, csi.source (the
// subvolume's name) and, as ReserveSnap passes the owner where the backing
// snapshot ID belongs, the owner under an empty key. No size, no time, no
// source volume ID.
func (e *env) cephCSISnapshot(name string, vol *csi.Volume) string {
	e.T.Helper()
	id := uuid.NewString()
	subvolume := subvolumeOf(e.T, vol.GetVolumeId())
	ref := backend.SnapshotRef{SubvolumeRef: backend.SubvolumeRef{FS: rig.FSName, Group: e.Group, Name: subvolume},
		Snapshot: "csi-snap-" + id}
	if err := e.Admin.CreateSnapshot(context.Background(), ref); err != nil {
		e.T.Fatal(err)
	}
	e.setOmap("csi.snap."+id, map[string]string{"csi.snapname": name, "csi.imagename": "csi-snap-" + id,
		"csi.source": subvolume, "": "default"})
	e.setOmap("csi.snaps."+e.Instance, map[string]string{"csi.snap." + name: id})
	return e.encodeID(id)
}

// versioned is the test's store as reference trackers need it.
func (e *env) versioned() journal.VersionedStore {
	e.T.Helper()
	vs, ok := e.Store.(journal.VersionedStore)
	if !ok {
		e.T.Fatalf("%T is not a journal.VersionedStore", e.Store)
	}
	return vs
}

// trackerOID is ceph-csi's reftracker object of a backing snapshot.
func trackerOID(snapID string) string { return "rt-backingsnapshot-" + snapID }

// be32 is a 4-byte big-endian number, as ceph-csi's reftracker stores
// its format version (xattr csi.ceph.com/rt-version) and reference count
// (the object's data).
func be32(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }

// readTracker returns the tracker's version xattr, data and omap.
func (e *env) readTracker(snapID string) (*journal.VersionedObject, error) {
	return e.versioned().ReadVersioned(context.Background(), trackerOID(snapID), "csi.ceph.com/rt-version", 16, nil)
}

// writeTracker creates a tracker in ceph-csi's v1 layout: refs maps each
// reference to its type byte (1 normal, 2 masked); the count is the number
// of normal ones.
func (e *env) writeTracker(snapID string, refs map[string]byte) {
	e.T.Helper()
	omap := map[string][]byte{}
	var n uint32
	for k, typ := range refs {
		omap[k] = []byte{typ}
		if typ == 1 {
			n++
		}
	}
	if err := e.versioned().CreateVersioned(context.Background(), trackerOID(snapID), "csi.ceph.com/rt-version",
		be32(1), be32(n), omap); err != nil {
		e.T.Fatal(err)
	}
}

// maskAsCephCSI does what ceph-csi's DeleteSnapshot does to a snapshot
// that backs shallow volumes: it masks the snapshot's own reference
// (type 2, count one less) and keeps the snapshot.
func (e *env) maskAsCephCSI(snapID string) {
	e.T.Helper()
	obj, err := e.readTracker(snapID)
	if err != nil {
		e.T.Fatal(err)
	}
	count := binary.BigEndian.Uint32(obj.Data)
	if err := e.versioned().WriteVersioned(context.Background(), trackerOID(snapID), obj.Version, journal.VersionedWrite{
		Data: be32(count - 1), Set: map[string][]byte{snapID: {2}}}); err != nil {
		e.T.Fatal(err)
	}
}

// cephCSIShallowVolume writes what ceph-csi's CreateVolume with
// backingSnapshot leaves: a volume record with csi.volname, csi.imagename
// (no subvolume is created) and csi.volume.backingsnapshotid, its directory
// key, and its reference in the snapshot's tracker (created with the
// snapshot's own reference when missing). It returns the volume's CSI ID
// and reserved name.
func (e *env) cephCSIShallowVolume(name, snapID string) (string, string) {
	e.T.Helper()
	id := uuid.NewString()
	image := "csi-vol-" + id
	e.setOmap("csi.volume."+id, map[string]string{"csi.volname": name, "csi.imagename": image,
		"csi.volume.backingsnapshotid": snapID})
	e.setOmap("csi.volumes."+e.Instance, map[string]string{"csi.volume." + name: id})
	e.writeTracker(snapID, map[string]byte{snapID: 1, image: 1})
	return e.encodeID(id), image
}

// cephCSIVolume does what ceph-csi's CreateVolume does for request name:
// the subvolume csi-vol-<uuid> (64 MiB) in the configured group, the
// volume record csi.volume.<uuid> with csi.volname and csi.imagename, and
// the directory key. It returns the CSI ID, the subvolume name and path.
func (e *env) cephCSIVolume(name string) (string, string, string) {
	e.T.Helper()
	ctx := context.Background()
	id := uuid.NewString()
	ref := backend.SubvolumeRef{FS: rig.FSName, Group: e.Group, Name: "csi-vol-" + id}
	if err := e.Admin.CreateGroup(ctx, ref.FS, ref.Group); err != nil {
		e.T.Fatal(err)
	}
	if err := e.Admin.CreateSubvolume(ctx, ref, backend.CreateOptions{Size: 64 << 20}); err != nil {
		e.T.Fatal(err)
	}
	e.setOmap("csi.volume."+id, map[string]string{"csi.volname": name, "csi.imagename": ref.Name})
	e.setOmap("csi.volumes."+e.Instance, map[string]string{"csi.volume." + name: id})
	p, err := e.Admin.SubvolumePath(ctx, ref)
	if err != nil {
		e.T.Fatal(err)
	}
	return e.encodeID(id), ref.Name, p
}
