package compat

import (
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/shared/csisource"
)

// encrypt adds what ceph-csi records for an encrypted volume or snapshot
// (StorageClass `encrypted: "true"`, no encryptionKMSID: the KMS ID
// "default", block encryption) to the UUID object of a fixture.
func (r *rig) encrypt(object string) {
	r.t.Helper()
	must(r.t, r.admin.SetOmap(r.pool, "", object, map[string]string{
		"csi.volume.encryptKMS": "default", "csi.volume.encryptionType": "block"}))
}

// TestCephCSIEncryptedVolume: encryption is not supported yet, so a
// snapshot, clone, restore or group snapshot of a volume ceph-csi
// encrypted is refused (InvalidArgument naming the field): made here, it
// would not carry the volume's key, and nobody could read it. Expanding
// and deleting such a volume and deleting its snapshots work and leave
// nothing.
func TestCephCSIEncryptedVolume(t *testing.T) {
	r := newRig(t)
	v := r.cephCSIVolume("pvc-encrypted", volumeLayout{})
	s := r.cephCSISnapshot("snap-encrypted", v)
	r.encrypt("csi.volume." + v.uuid)
	r.encrypt("csi.snap." + s.uuid)

	_, err := r.ctrl.CreateSnapshot(ctx(t), &csi.CreateSnapshotRequest{Name: "snap-of-encrypted", SourceVolumeId: v.id,
		Secrets: r.secrets})
	wantRefused(t, "CreateSnapshot", err, "source_volume_id")
	clone := r.volReq("clone-of-encrypted", fixtureSize, nil)
	clone.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{
		Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: v.id}}}
	_, err = r.ctrl.CreateVolume(ctx(t), clone)
	wantRefused(t, "CreateVolume from the volume", err, "volume_content_source.volume.volume_id")
	restore := r.volReq("restore-of-encrypted", fixtureSize, nil)
	restore.VolumeContentSource = csisource.Snapshot(s.id)
	_, err = r.ctrl.CreateVolume(ctx(t), restore)
	wantRefused(t, "CreateVolume from the snapshot", err, "volume_content_source.snapshot.snapshot_id")
	_, err = r.ctrl.Group().CreateVolumeGroupSnapshot(ctx(t), &csi.CreateVolumeGroupSnapshotRequest{Name: "group-of-encrypted",
		SourceVolumeIds: []string{v.id}, Secrets: r.secrets})
	wantRefused(t, "CreateVolumeGroupSnapshot", err, "source_volume_ids")

	r.expand(v.id, 2*fixtureSize)
	r.deleteSnapshot(s.id)
	r.deleteVolume(v.id)
}

func wantRefused(t *testing.T, call string, err error, field string) {
	t.Helper()
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), field+": ") ||
		!strings.Contains(err.Error(), "encrypted") {
		t.Errorf("%s of an encrypted volume: %v, want InvalidArgument naming %s and saying it is encrypted", call, err, field)
	}
}
