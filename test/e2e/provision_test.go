package e2e

import (
	"testing"
)

// provision: the driver's claims (RBD: filesystem and block, CephFS:
// ReadWriteMany) bind to PVs of the driver with the size and volume mode
// asked for; behind each is an image or subvolume of that size with the
// StorageClass's features, recorded in the journal under the PV's name.
func provision(t *testing.T, d *driver) {
	expectNone(t, "volumes at the start", d.volumes)
	var names []string
	for _, c := range d.claims() {
		if err := d.kube.createPVC(t.Context(), d.ns, c); err != nil {
			t.Fatal(err)
		}
		names = append(names, c.name)
	}
	waitBound(t, d, names...)
	for _, c := range d.claims() {
		r := checkVolumeOf(t, d, c, gib)
		if err := d.checkFeatures(t.Context(), r.volume); err != nil {
			t.Fatal(err)
		}
		mustContain(t, d, "csi.volumes.default", "csi.volume."+r.pv)
		d.remember(c.name, r)
	}
	vols, err := d.volumes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(vols) != len(d.claims()) {
		t.Fatalf("%d volumes in Ceph, want %d: %v", len(vols), len(d.claims()), vols)
	}
	t.Logf("ok: %d PVCs bound, %d volumes: %v", len(names), len(vols), vols)
}
