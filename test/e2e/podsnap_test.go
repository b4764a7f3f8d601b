package e2e

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// snapshotRestorePodData: a pod writes, a VolumeSnapshot is taken, another
// pod overwrites; a PVC restored from the snapshot shows the data as of the
// snapshot to a third pod.
func snapshotRestorePodData(t *testing.T, d *driver) {
	c := d.podClaim(d.drv+"-snapdata", corev1.PersistentVolumeFilesystem)
	bindAndCheck(t, d, c, gib)
	const path, before, after = "/data/e2e.txt", "before the snapshot", "after  the snapshot"
	runPod(t, d, podSpec{name: c.name + "-w1", pvc: c.name, args: []string{"write", path, before}})
	snap := c.name + "-snap"
	if err := d.createSnapshot(t.Context(), snap, c.name); err != nil {
		t.Fatal(err)
	}
	waitSnapshotReady(t, d, snap)
	runPod(t, d, podSpec{name: c.name + "-w2", pvc: c.name, args: []string{"write", path, after}})
	restored := c
	restored.name, restored.source = c.name+"-restored", snapshotSource(snap)
	bindAndCheck(t, d, restored, gib)
	got := runPod(t, d, podSpec{name: restored.name + "-r", pvc: restored.name,
		args: []string{"read", path, "19"}})
	if got != before {
		t.Fatalf("the restored volume holds %q, want %q (the data as of the snapshot)", got, before)
	}
	t.Logf("ok: the restored PVC shows %q", got)
}

// waitSnapshotReady waits until the VolumeSnapshot is readyToUse.
func waitSnapshotReady(t *testing.T, d *driver, name string) *unstructured.Unstructured {
	t.Helper()
	var vs *unstructured.Unstructured
	waitFor(t, 60*time.Second, "VolumeSnapshot "+d.ns+"/"+name+" readyToUse", func() (bool, error) {
		var err error
		vs, err = d.kube.dyn.Resource(vsGVR).Namespace(d.ns).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		ready, _, _ := unstructured.NestedBool(vs.Object, "status", "readyToUse")
		return ready, nil
	})
	return vs
}
