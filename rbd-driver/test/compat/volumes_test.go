package compat

import (
	"cmp"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
)

// TestCephCSIVolumes: ceph-csi volumes with csi.imageid, without it, and
// with a separate journal pool are snapshotted (in our model), cloned and
// deleted by rbd-driver; afterwards both pools are empty. ceph-csi ignores
// a StorageClass journalPool for volumes (their directory stays in
// `pool`): the retry with that key must still find its volume (found with
// a real ceph-csi v3.12.2, see docs/ceph-csi-compat.md).
func TestCephCSIVolumes(t *testing.T) {
	r := newRig(t)
	jpool := poolName(t, "-jrn")
	r.addPool(jpool)
	for _, tc := range []struct {
		name string
		l    volumeLayout
		// scJournalPool is the StorageClass journalPool of the requests
		// ("": the layout's).
		scJournalPool string
	}{
		{"with imageid", volumeLayout{}, ""},
		{"without imageid", volumeLayout{noImageID: true}, ""},
		{"journal pool", volumeLayout{journalPool: jpool}, ""},
		{"journalPool ceph-csi ignored", volumeLayout{}, jpool},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := r.cephCSIVolume("pvc-"+tc.name, tc.l)
			params := map[string]string{}
			if jp := cmp.Or(tc.scJournalPool, tc.l.journalPool); jp != "" {
				params["journalPool"] = jp
			}
			// A retry of ceph-csi's CreateVolume: the same volume.
			if again := r.create(r.volReq("pvc-"+tc.name, fixtureSize, params)); again.GetVolumeId() != v.id ||
				again.GetVolumeContext()["imageName"] != v.image {
				t.Errorf("CreateVolume retry gave %s (%s), want %s (%s)", again.GetVolumeId(),
					again.GetVolumeContext()["imageName"], v.id, v.image)
			}
			r.expand(v.id, 2*fixtureSize)
			snap := r.snapshot("snap-of-"+tc.name, v.id, nil)
			if snap.GetSourceVolumeId() != v.id || snap.GetSizeBytes() != 2*v.size {
				t.Errorf("snapshot source %q size %d, want %q %d", snap.GetSourceVolumeId(), snap.GetSizeBytes(), v.id, 2*v.size)
			}
			clone := r.cloneOf("clone-of-"+tc.name, v.id, params)
			restored := r.restoreOf("restore-of-"+tc.name, snap.GetSnapshotId(), params)
			if restored.GetCapacityBytes() != 2*v.size {
				t.Errorf("restored %d bytes, want %d", restored.GetCapacityBytes(), 2*v.size)
			}
			r.deleteVolume(v.id)
			r.deleteVolume(v.id) // a retried delete is fine
			r.deleteSnapshot(snap.GetSnapshotId())
			r.deleteVolume(clone.GetVolumeId())
			r.deleteVolume(restored.GetVolumeId())
		})
	}
}

func (r *rig) cloneOf(name, volID string, params map[string]string) *csi.Volume {
	r.t.Helper()
	req := r.volReq(name, fixtureSize, params)
	req.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{
		Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: volID}}}
	return r.create(req)
}

func (r *rig) restoreOf(name, snapID string, params map[string]string) *csi.Volume {
	r.t.Helper()
	req := r.volReq(name, fixtureSize, params)
	req.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
		Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snapID}}}
	return r.create(req)
}

// expand grows a volume through ControllerExpandVolume.
func (r *rig) expand(id string, size int64) {
	r.t.Helper()
	resp, err := r.ctrl.ControllerExpandVolume(ctx(r.t), &csi.ControllerExpandVolumeRequest{VolumeId: id,
		CapacityRange: &csi.CapacityRange{RequiredBytes: size}, Secrets: r.secrets})
	if err != nil || resp.GetCapacityBytes() < size {
		r.t.Fatalf("ControllerExpandVolume %s: %v, %v", id, resp, err)
	}
}

// TestCephCSIClone: a volume ceph-csi cloned from a volume (with its hidden
// <image>-temp parent) is found by a CreateVolume retry, snapshotted,
// restored and deleted; its temp image goes with it, so the source purges
// too. (Deleted children first: the mgr retries a purge blocked by a
// child only after 30 s, then 60 s, so a source deleted before a
// two-level chain of children purges only minutes later.)
func TestCephCSIClone(t *testing.T) {
	r := newRig(t)
	v := r.cephCSIVolume("pvc-source", volumeLayout{})
	c := r.cephCSIClone("pvc-clone", v)
	// A retry of ceph-csi's CreateVolume (which records no content source).
	if again := r.cloneOf("pvc-clone", v.id, nil); again.GetVolumeId() != c.id {
		t.Errorf("CreateVolume retry gave %s, want %s", again.GetVolumeId(), c.id)
	}
	snap := r.snapshot("snap-of-clone", c.id, nil)
	restored := r.restoreOf("restore-of-clone", snap.GetSnapshotId(), nil)
	r.deleteVolume(restored.GetVolumeId())
	r.deleteSnapshot(snap.GetSnapshotId())
	r.deleteVolume(c.id)
	r.deleteVolume(v.id)
}
