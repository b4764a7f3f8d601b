package integration

import (
	"fmt"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
)

// addPool creates a second pool for the test; the cleanup checks it is
// empty again and deletes it.
func (r *rig) addPool(name string) {
	r.admin.CreatePool(r.t, name)
	r.t.Cleanup(func() {
		wait := drainTimeout
		if r.t.Failed() {
			wait = 0
		}
		if c, err := r.admin.WaitEmpty(name, "", wait); err != nil || !c.Empty() {
			r.t.Errorf("pool %s is not back to its initial state: %v (%v)", name, c, err)
		}
		if err := r.admin.DeletePool(name); err != nil {
			r.t.Errorf("delete pool %s: %v", name, err)
		}
	})
}

func zoneTopology(z string) *csi.Topology {
	return &csi.Topology{Segments: map[string]string{
		"topology.rbd.csi.ceph.com/region": "east", "topology.rbd.csi.ceph.com/zone": z}}
}

func zones(zs ...string) []*csi.Topology {
	var out []*csi.Topology
	for _, z := range zs {
		out = append(out, zoneTopology(z))
	}
	return out
}

// TestTopologyTwoPools provisions with accessibility requirements on the
// real cluster: zone a is the test's pool, zone b a second pool; the
// journal goes with the image (as ceph-csi v3.11+). The image must be in
// the chosen pool and the volume must carry the matching topology.
func TestTopologyTwoPools(t *testing.T) {
	r := newRig(t, 4, 8)
	poolB := r.pool + "-b"
	r.addPool(poolB)
	pools := fmt.Sprintf(`[{"poolName": %q, "domainSegments": [{"domainLabel": "region", "value": "east"},
		{"domainLabel": "zone", "value": "a"}]}, {"poolName": %q, "domainSegments": [{"domainLabel": "region",
		"value": "east"}, {"domainLabel": "zone", "value": "b"}]}]`, r.pool, poolB)
	for i, tc := range []struct {
		name                 string
		preferred, requisite []*csi.Topology
		pool, zone           string
		code                 codes.Code
	}{
		{"requisite only", nil, zones("b"), poolB, "b", codes.OK},
		{"preferred before requisite", zones("a"), zones("b", "a"), r.pool, "a", codes.OK},
		{"unmatched preferred, requisite", zones("c"), zones("c", "b"), poolB, "b", codes.OK},
		{"no match", zones("c"), zones("c"), "", "", codes.ResourceExhausted},
	} {
		req := r.volReq(fmt.Sprintf("pvc-topo-%d", i), 16*mib)
		req.Parameters["topologyConstrainedPools"] = pools
		req.AccessibilityRequirements = &csi.TopologyRequirement{Preferred: tc.preferred, Requisite: tc.requisite}
		resp, err := r.ctrl.CreateVolume(ctx(t), req)
		if tc.code != codes.OK {
			wantCode(t, err, tc.code, "accessibility_requirements")
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		vol := resp.GetVolume()
		if _, err := r.admin.Describe(tc.pool, "", image(vol)); err != nil || vol.GetVolumeContext()["pool"] != tc.pool {
			t.Errorf("%s: image %s not in pool %s (context %v): %v", tc.name, image(vol), tc.pool, vol.GetVolumeContext(), err)
		}
		if top := vol.GetAccessibleTopology(); len(top) != 1 || top[0].GetSegments()["topology.rbd.csi.ceph.com/zone"] != tc.zone {
			t.Errorf("%s: accessible topology %v, want zone %s", tc.name, top, tc.zone)
		}
		r.deleteVolume(vol.GetVolumeId())
	}
}
