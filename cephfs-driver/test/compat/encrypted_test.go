package compat

import (
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/test/rig"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// encrypt adds what ceph-csi records for an fscrypt-encrypted volume or
// snapshot (StorageClass `encrypted: "true"`, no encryptionKMSID) to the
// record of CSI ID id, an object csi.<kind>.<uuid>.
func (e *env) encrypt(kind, id string) {
	e.T.Helper()
	vid, err := volid.Decode(id)
	if err != nil {
		e.T.Fatal(err)
	}
	e.setOmap("csi."+kind+"."+vid.UUID, map[string]string{"csi.volume.encryptKMS": "default",
		"csi.volume.encryptionType": "file"})
}

// TestCephCSIEncryptedVolume: encryption is not supported yet, so a
// snapshot, clone, restore, shallow volume or group snapshot of a volume
// ceph-csi encrypted is refused (InvalidArgument naming the field): made
// here, it would not carry the key, and nobody could read it. Expanding
// and deleting such a volume and deleting its snapshots work and leave
// nothing.
func TestCephCSIEncryptedVolume(t *testing.T) {
	e := newEnv(t)
	volID, _, _ := e.cephCSIVolume("pvc-encrypted")
	vol := &csi.Volume{VolumeId: volID}
	snapID := e.cephCSISnapshot("snap-encrypted", vol)
	e.encrypt("volume", volID)
	e.encrypt("snap", snapID)

	_, err := e.Ctrl.CreateSnapshot(e.Ctx(), &csi.CreateSnapshotRequest{Name: "snap-of-encrypted", SourceVolumeId: volID,
		Secrets: e.AdminSecrets()})
	wantRefused(t, "CreateSnapshot", err, "source_volume_id")
	for name, c := range map[string]struct {
		src   *csi.VolumeContentSource
		extra []string
		field string
		cap   *csi.VolumeCapability
	}{
		"clone":   {rig.VolumeSource(volID), nil, "volume_content_source.volume.volume_id", rig.RWX},
		"restore": {rig.SnapshotSource(snapID), nil, "volume_content_source.snapshot.snapshot_id", rig.RWX},
		"shallow": {rig.SnapshotSource(snapID), []string{"backingSnapshot", "true"}, "volume_content_source.snapshot.snapshot_id",
			rig.MountCap(csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY)},
	} {
		_, err := e.Ctrl.CreateVolume(e.Ctx(), &csi.CreateVolumeRequest{Name: name + "-of-encrypted",
			CapacityRange: &csi.CapacityRange{RequiredBytes: 64 * rig.MiB}, VolumeCapabilities: []*csi.VolumeCapability{c.cap},
			Parameters: e.Params(c.extra...), Secrets: e.AdminSecrets(), VolumeContentSource: c.src})
		wantRefused(t, "CreateVolume "+name, err, c.field)
	}
	_, err = e.GroupCtrl.CreateVolumeGroupSnapshot(e.Ctx(), &csi.CreateVolumeGroupSnapshotRequest{Name: "group-of-encrypted",
		SourceVolumeIds: []string{volID}, Secrets: e.AdminSecrets(), Parameters: map[string]string{"clusterID": e.Cluster.FSID}})
	wantRefused(t, "CreateVolumeGroupSnapshot", err, "source_volume_id")

	if _, err := e.Ctrl.ControllerExpandVolume(e.Ctx(), &csi.ControllerExpandVolumeRequest{VolumeId: volID,
		CapacityRange: &csi.CapacityRange{RequiredBytes: 128 * rig.MiB}, Secrets: e.AdminSecrets()}); err != nil {
		t.Errorf("ControllerExpandVolume of an encrypted volume: %v", err)
	}
	if err := e.DeleteSnapshot(snapID); err != nil {
		t.Fatal(err)
	}
	e.DeleteVolume(volID)
}

func wantRefused(t *testing.T, call string, err error, field string) {
	t.Helper()
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), field) ||
		!strings.Contains(err.Error(), "encrypted") {
		t.Errorf("%s of an encrypted volume: %v, want InvalidArgument naming %s and saying it is encrypted", call, err, field)
	}
}
