package compat

import (
	"cmp"
	"slices"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/seed-6a310834/ceph-csi/shared/csisource"
)

// TestCephCSIVolumes: ceph-csi volumes with csi.imageid, without it, and
// with a separate journal pool (split record), and a volume rbd-driver
// made with journalPool before it ignored that key (directory in the
// journal pool, whole record in the image pool), are found by a
// CreateVolume retry, snapshotted (in our model), cloned and deleted by
// rbd-driver; afterwards both pools are empty. ceph-csi ignores a
// StorageClass journalPool for volumes (their directory stays in `pool`):
// the retry with that key must still find its volume (found with a real
// ceph-csi v3.12.2, see docs/ceph-csi-compat.md), and the volumes
// rbd-driver makes with it have their journal in `pool` too.
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
		{"rbd-driver journalPool layout", volumeLayout{journalPool: jpool, ours: true}, ""},
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
			for _, name := range []string{"clone-of-" + tc.name, "restore-of-" + tc.name} {
				r.wantEntry(r.pool, "csi.volumes."+instance+"[csi.volume."+name+"]", true)
				r.wantEntry(jpool, "csi.volumes."+instance+"[csi.volume."+name+"]", false)
			}
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
	req.VolumeContentSource = csisource.Snapshot(snapID)
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

// wantEntry checks whether a pool holds an object (or directory key,
// "<directory>[<key>]").
func (r *rig) wantEntry(pool, object string, want bool) {
	r.t.Helper()
	c, err := r.admin.Audit(pool, "")
	must(r.t, err)
	if got := slices.Contains(c.Objects, object); got != want {
		r.t.Errorf("pool %s holds %s: %v, want %v (%v)", pool, object, got, want, c.Objects)
	}
}

// TestCephCSITopology: with topologyConstrainedPools, ceph-csi v3.11+ keeps
// a volume's journal (directory and plain record) in the topology pool it
// chose for the image, and so do the journals of its snapshots; before
// v3.11 the directory stayed in the StorageClass pool, the record split
// over both. A CreateVolume retry finds a volume of either layout; the
// volumes rbd-driver makes, and their snapshots, are journaled as by
// v3.11+; everything is deleted from both pools.
func TestCephCSITopology(t *testing.T) {
	r := newRig(t)
	topo := poolName(t, "-topo")
	r.addPool(topo)
	params := map[string]string{"topologyConstrainedPools": `[{"poolName": "` + topo +
		`", "domainSegments": [{"domainLabel": "zone", "value": "z1"}]}]`}
	req := func(name string) *csi.CreateVolumeRequest {
		q := r.volReq(name, fixtureSize, params)
		q.AccessibilityRequirements = &csi.TopologyRequirement{Requisite: []*csi.Topology{
			{Segments: map[string]string{"topology.rbd.csi.ceph.com/zone": "z1"}}}}
		return q
	}
	v311 := r.cephCSIVolume("pvc-v3.11", volumeLayout{pool: topo})
	old := r.cephCSIVolume("pvc-before-v3.11", volumeLayout{pool: topo, journalPool: r.pool})
	for _, v := range []struct {
		name string
		v    *cephCSIVolume
	}{{"pvc-v3.11", v311}, {"pvc-before-v3.11", old}} {
		if again := r.create(req(v.name)); again.GetVolumeId() != v.v.id {
			t.Errorf("CreateVolume retry of %s gave %s, want %s", v.name, again.GetVolumeId(), v.v.id)
		}
	}
	vol := r.create(req("pvc-new"))
	r.wantEntry(topo, "csi.volumes."+instance+"[csi.volume.pvc-new]", true)
	r.wantEntry(r.pool, "csi.volumes."+instance+"[csi.volume.pvc-new]", false)
	if again := r.create(req("pvc-new")); again.GetVolumeId() != vol.GetVolumeId() {
		t.Errorf("CreateVolume retry gave %s, want %s", again.GetVolumeId(), vol.GetVolumeId())
	}
	snap := r.snapshot("snap-new", vol.GetVolumeId(), nil)
	r.wantEntry(topo, "csi.snaps."+instance+"[csi.snap.snap-new]", true)
	// A restore stays in the snapshot's pool, with its journal.
	rq := req("pvc-restored")
	rq.VolumeContentSource = csisource.Snapshot(snap.GetSnapshotId())
	restored := r.create(rq)
	r.wantEntry(topo, "csi.volumes."+instance+"[csi.volume.pvc-restored]", true)
	r.deleteVolume(restored.GetVolumeId())
	r.deleteSnapshot(snap.GetSnapshotId())
	for _, id := range []string{vol.GetVolumeId(), v311.id, old.id} {
		r.deleteVolume(id)
	}
}
