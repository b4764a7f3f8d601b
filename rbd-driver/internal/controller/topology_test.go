package controller

import (
	"context"
	"testing"

	"github.com/seed-6a310834/ceph-csi/shared/csisource"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const topoPools = `[{"poolName": "rbd", "domainSegments": [{"domainLabel": "region", "value": "east"},
	{"domainLabel": "zone", "value": "z1"}]},
	{"poolName": "ec-data", "domainSegments": [{"domainLabel": "region", "value": "east"},
	{"domainLabel": "zone", "value": "z2"}]}]`

func zone(z string) *csi.Topology {
	return &csi.Topology{Segments: map[string]string{
		"topology.rbd.csi.ceph.com/region": "east", "topology.rbd.csi.ceph.com/zone": z}}
}

// topoCases: requirements (preferred, requisite) -> pool and zone, or code.
var topoCases = []struct {
	name                 string
	preferred, requisite []string
	noPool               bool
	pool, zone           string
	code                 codes.Code
}{
	{name: "requisite only", requisite: []string{"z2"}, pool: otherPool, zone: "z2"},
	{name: "preferred wins", preferred: []string{"z1"}, requisite: []string{"z2", "z1"}, pool: testPool, zone: "z1"},
	{name: "preferred unmatched, requisite", preferred: []string{"z3"}, requisite: []string{"z3", "z2"}, pool: otherPool, zone: "z2"},
	{name: "no match", preferred: []string{"z3"}, requisite: []string{"z3"}, code: codes.ResourceExhausted},
	{name: "no requirements: the pool parameter", pool: jPool},
	{name: "no requirements, no pool", noPool: true, code: codes.InvalidArgument},
}

func topologies(zones []string) []*csi.Topology {
	var out []*csi.Topology
	for _, z := range zones {
		out = append(out, zone(z))
	}
	return out
}

func TestTopologyConstrainedPools(t *testing.T) {
	e := newEnv(t)
	for _, tc := range topoCases {
		t.Run(tc.name, func(t *testing.T) {
			req := volReq("pvc-topo", 1<<20)
			req.Parameters["pool"] = jPool
			if tc.noPool {
				delete(req.Parameters, "pool")
			}
			req.Parameters[paramTopologyPools] = topoPools
			if tc.preferred != nil || tc.requisite != nil {
				req.AccessibilityRequirements = &csi.TopologyRequirement{
					Preferred: topologies(tc.preferred), Requisite: topologies(tc.requisite)}
			}
			resp, err := e.s.CreateVolume(context.Background(), req)
			if tc.code != codes.OK {
				wantCode(t, err, tc.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			vol := resp.GetVolume()
			if got := vol.GetVolumeContext()["pool"]; got != tc.pool {
				t.Errorf("pool %q, want %q", got, tc.pool)
			}
			if tc.zone == "" && len(vol.GetAccessibleTopology()) != 0 {
				t.Errorf("accessible topology %v, want none", vol.GetAccessibleTopology())
			}
			if tc.zone != "" && (len(vol.GetAccessibleTopology()) != 1 ||
				vol.GetAccessibleTopology()[0].GetSegments()["topology.rbd.csi.ceph.com/zone"] != tc.zone) {
				t.Errorf("accessible topology %v, want zone %s", vol.GetAccessibleTopology(), tc.zone)
			}
			again, err := e.s.CreateVolume(context.Background(), req)
			if err != nil || again.GetVolume().GetVolumeId() != vol.GetVolumeId() {
				t.Fatalf("repeat: %v, %v", again, err)
			}
			e.deleteVolume(vol.GetVolumeId())
		})
	}
	e.assertEmpty()
}

func TestTopologyRestoreStaysInSourcePool(t *testing.T) {
	e := newEnv(t)
	src := volReq("pvc-src", 1<<20)
	src.Parameters["pool"] = otherPool
	vol := e.create(src)
	snap := e.snapshot("snap-src", vol.GetVolumeId())
	restore := func(zones ...string) (*csi.Volume, error) {
		req := volReq("pvc-restored", 1<<20)
		req.Parameters[paramTopologyPools] = topoPools
		req.AccessibilityRequirements = &csi.TopologyRequirement{Requisite: topologies(zones)}
		req.VolumeContentSource = csisource.Snapshot(snap.GetSnapshotId())
		resp, err := e.s.CreateVolume(context.Background(), req)
		return resp.GetVolume(), err
	}
	_, err := restore("z1")
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("restore of an ec-data snapshot into zone z1: %v, want ResourceExhausted", err)
	}
	restored, err := restore("z1", "z2")
	if err != nil || restored.GetVolumeContext()["pool"] != otherPool ||
		restored.GetAccessibleTopology()[0].GetSegments()["topology.rbd.csi.ceph.com/zone"] != "z2" {
		t.Fatalf("restore = %v, %v; want pool %s, zone z2", restored, err, otherPool)
	}
	e.deleteVolume(restored.GetVolumeId())
	e.deleteSnapshot(snap.GetSnapshotId())
	e.deleteVolume(vol.GetVolumeId())
	e.assertEmpty()
}

func TestTopologyPoolsBadJSON(t *testing.T) {
	e := newEnv(t)
	for _, v := range []string{"{", "[]", `[{"dataPool": "x"}]`, `[{"poolName": "a/b"}]`,
		`[{"poolName": "rbd", "domainSegments": [{"domainLabel": "zone"}]}]`} {
		req := volReq("pvc-bad", 1<<20)
		req.Parameters[paramTopologyPools] = v
		_, err := e.s.CreateVolume(context.Background(), req)
		wantCode(t, err, codes.InvalidArgument, paramTopologyPools)
	}
	e.assertEmpty()
}

// TestTopologyJournalPlacement: as ceph-csi v3.11+, a topology-constrained
// volume has its journal (directory entry and plain record) in the pool
// chosen for its image, and so do its snapshots; nothing goes to the
// StorageClass pool. A retry also finds a volume of the earlier layout
// (ceph-csi before v3.11: directory in the StorageClass pool, record split
// over both pools).
func TestTopologyJournalPlacement(t *testing.T) {
	e := newEnv(t)
	topoReq := func(name string) *csi.CreateVolumeRequest {
		req := volReq(name, 1<<20)
		req.Parameters["pool"] = jPool
		req.Parameters[paramTopologyPools] = topoPools
		req.AccessibilityRequirements = &csi.TopologyRequirement{Requisite: topologies([]string{"z2"})}
		return req
	}
	vol := e.create(topoReq("pvc-new"))
	if got := vol.GetVolumeContext()["journalPool"]; got != otherPool {
		t.Errorf("journalPool in context %q, want %q", got, otherPool)
	}
	if v := wantDirEntry(t, e.objectStore(otherPool), "pvc-new"); v != e.uuidOf(vol.GetVolumeId()) {
		t.Errorf("directory entry %q, want the plain UUID", v)
	}
	wantJournalPool(t, e.objectStore(otherPool), "csi.volume."+e.uuidOf(vol.GetVolumeId()), -1)
	snap := e.snapshot("snap-new", vol.GetVolumeId())
	wantDirEntry(t, e.objectStore(otherPool), "snap-new")
	if c := e.be.Contents(testCluster, jPool); !c.Empty() {
		t.Fatalf("StorageClass pool holds %+v, want nothing", c)
	}
	if again := e.create(topoReq("pvc-new")); again.GetVolumeId() != vol.GetVolumeId() {
		t.Fatalf("retry gave %s, want %s", again.GetVolumeId(), vol.GetVolumeId())
	}
	// The layout of ceph-csi before v3.11.
	old := e.create(topoReq("pvc-old"))
	moveToJournalPool(t, e, otherPool, jPool, e.uuidOf(old.GetVolumeId()), true)
	if again := e.create(topoReq("pvc-old")); again.GetVolumeId() != old.GetVolumeId() ||
		again.GetVolumeContext()["journalPool"] != jPool {
		t.Fatalf("retry of the pre-v3.11 layout gave %s (journalPool %q), want %s", again.GetVolumeId(),
			again.GetVolumeContext()["journalPool"], old.GetVolumeId())
	}
	e.deleteSnapshot(snap.GetSnapshotId())
	e.deleteVolume(vol.GetVolumeId())
	e.deleteVolume(old.GetVolumeId())
	e.assertEmpty()
}
