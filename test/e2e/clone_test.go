package e2e

import "testing"

// clone: a PVC from the source PVC binds with the size; behind it is a new
// image or subvolume of that size.
func clone(t *testing.T, d *driver) {
	src := d.source()
	c := src
	c.name, c.source = d.drv+"-clone", pvcSource(src.name)
	r := bindAndCheck(t, d, c, gib)
	if r.volume == d.recall(t, src.name).volume {
		t.Fatalf("clone uses the source volume %s", r.volume)
	}
}
