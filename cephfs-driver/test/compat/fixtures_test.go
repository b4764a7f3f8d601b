package compat

import (
	"context"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/google/uuid"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/test/rig"
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
