package e2e

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// snapshotName is the VolumeSnapshot of the source PVC.
func (d *driver) snapshotName() string { return d.drv + "-snap" }

// createSnapshot creates a VolumeSnapshot of pvc with the driver's class.
func (d *driver) createSnapshot(ctx context.Context, name, pvc string) error {
	vs := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
		"metadata": map[string]any{"name": name, "namespace": d.ns},
		"spec": map[string]any{
			"volumeSnapshotClassName": d.class(""),
			"source":                  map[string]any{"persistentVolumeClaimName": pvc},
		},
	}}
	_, err := d.kube.dyn.Resource(vsGVR).Namespace(d.ns).Create(ctx, vs, metav1.CreateOptions{})
	return err
}

// snapshot: a VolumeSnapshot of the source PVC becomes readyToUse; its
// content has a handle and restoreSize is 1Gi; Ceph holds the snapshot on
// the source's image or subvolume, and the journal records it under the
// name the snapshotter gives it (snapshot-<uid>).
func snapshot(t *testing.T, d *driver) {
	ctx := t.Context()
	name, src := d.snapshotName(), d.source()
	if err := d.createSnapshot(ctx, name, src.name); err != nil {
		t.Fatal(err)
	}
	vs := waitSnapshotReady(t, d, name)
	vscName, _, _ := unstructured.NestedString(vs.Object, "status", "boundVolumeSnapshotContentName")
	vsc, err := d.kube.dyn.Resource(vscGVR).Get(ctx, vscName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("VolumeSnapshotContent %q: %v", vscName, err)
	}
	handle, _, _ := unstructured.NestedString(vsc.Object, "status", "snapshotHandle")
	if handle == "" {
		t.Fatalf("VolumeSnapshotContent %s has no snapshotHandle", vscName)
	}
	size, _, _ := unstructured.NestedString(vs.Object, "status", "restoreSize")
	if q, err := resource.ParseQuantity(size); err != nil || q.Value() != gib {
		t.Fatalf("restoreSize %q, want 1Gi", size)
	}
	desc, err := d.checkSnapshots(ctx, d.recall(t, src.name).volume)
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, d, "csi.snaps.default", "csi.snap.snapshot-"+string(vs.GetUID()))
	t.Logf("ok: snapshot ready: handle %s, restoreSize %s, %s", handle, size, desc)
}

// restore: a PVC from the VolumeSnapshot binds with the size; behind it is
// a new image or subvolume of that size.
func restore(t *testing.T, d *driver) {
	src := d.source()
	c := src
	c.name, c.source = d.drv+"-restore", snapshotSource(d.snapshotName())
	r := bindAndCheck(t, d, c, gib)
	if r.volume == d.recall(t, src.name).volume {
		t.Fatalf("restored volume uses the source volume %s", r.volume)
	}
}
