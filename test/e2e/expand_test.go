package e2e

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// expand: the source PVC asks for 2Gi; its PV and the image size or
// subvolume quota grow to 2 GiB. The PVC reaches 2Gi at once (CephFS), or
// waits for the node with FileSystemResizePending (RBD filesystem: node
// expansion needs a kubelet).
func expand(t *testing.T, d *driver) {
	ctx := t.Context()
	src := d.source()
	r := d.recall(t, src.name)
	two := resource.MustParse("2Gi")
	if err := d.kube.resizePVC(ctx, d.ns, src.name, two.String()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "PV "+r.pv+" capacity 2Gi", func() (bool, error) {
		pv, err := d.kube.pv(ctx, r.pv)
		return err == nil && pv.Spec.Capacity.Storage().Cmp(two) == 0, err
	})
	pvcCapacity := func() (bool, error) {
		pvc, err := d.kube.pvc(ctx, d.ns, src.name)
		return err == nil && pvc.Status.Capacity.Storage().Cmp(two) == 0, err
	}
	if !d.expandsOnNode() {
		waitFor(t, 60*time.Second, "PVC "+src.name+" capacity 2Gi", pvcCapacity)
	}
	if err := d.checkVolume(ctx, r.volume, 2*gib); err != nil {
		t.Fatal(err)
	}
	if !d.expandsOnNode() {
		t.Log("ok: PV and PVC capacity 2Gi")
		return
	}
	pvc, err := d.kube.pvc(ctx, d.ns, src.name)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range pvc.Status.Conditions {
		if c.Type == corev1.PersistentVolumeClaimFileSystemResizePending {
			t.Log("ok: PVC condition FileSystemResizePending (node expansion pending, as expected without a kubelet)")
			return
		}
	}
	if ok, _ := pvcCapacity(); !ok {
		t.Fatalf("PVC %s: neither FileSystemResizePending nor capacity 2Gi: %+v", src.name, pvc.Status)
	}
	t.Log("ok: PVC capacity 2Gi")
}
