package e2e

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// deleteEverything: every VolumeSnapshot and PVC of the test namespace
// deleted at once; the PVCs, PVs, VolumeSnapshots and VolumeSnapshotContents
// go away, and then the test's pool or group in Ceph is back to empty.
func deleteEverything(t *testing.T, d *driver) {
	ctx := t.Context()
	all := metav1.ListOptions{}
	if err := d.kube.dyn.Resource(vsGVR).Namespace(d.ns).DeleteCollection(ctx, metav1.DeleteOptions{}, all); err != nil {
		t.Fatal(err)
	}
	if err := d.kube.cs.CoreV1().PersistentVolumeClaims(d.ns).DeleteCollection(ctx, metav1.DeleteOptions{}, all); err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		what string
		list func(context.Context) ([]string, error)
	}{
		{"PVCs in " + d.ns, d.pvcNames},
		{"VolumeSnapshots in " + d.ns, d.snapshotNames},
		{"PVs of " + d.csi, d.pvNames},
		{"VolumeSnapshotContents of " + d.csi, d.contentNames},
	} {
		waitFor(t, 120*time.Second, w.what+" deleted", func() (bool, error) {
			l, err := w.list(ctx)
			return len(l) == 0, err
		})
	}
	t.Log("ok: PVCs, PVs, VolumeSnapshots and VolumeSnapshotContents deleted")
	d.checkClean(t)
}

func (d *driver) pvcNames(ctx context.Context) ([]string, error) {
	l, err := d.kube.cs.CoreV1().PersistentVolumeClaims(d.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, o := range l.Items {
		names = append(names, o.Name)
	}
	return names, nil
}

// pvNames lists the PVs of the driver.
func (d *driver) pvNames(ctx context.Context) ([]string, error) {
	l, err := d.kube.cs.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, pv := range l.Items {
		if pv.Spec.CSI != nil && pv.Spec.CSI.Driver == d.csi {
			names = append(names, pv.Name)
		}
	}
	return names, nil
}

func (d *driver) snapshotNames(ctx context.Context) ([]string, error) {
	l, err := d.kube.dyn.Resource(vsGVR).Namespace(d.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, o := range l.Items {
		names = append(names, o.GetName())
	}
	return names, nil
}

// contentNames lists the VolumeSnapshotContents of the driver.
func (d *driver) contentNames(ctx context.Context) ([]string, error) {
	l, err := d.kube.dyn.Resource(vscGVR).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, o := range l.Items {
		if drv, _, _ := unstructured.NestedString(o.Object, "spec", "driver"); drv == d.csi {
			names = append(names, o.GetName())
		}
	}
	return names, nil
}
