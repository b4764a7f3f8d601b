package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// groupSnapshotPodData: pods write to two PVCs, a VolumeGroupSnapshot of
// both (selected by label, with the driver's sample
// VolumeGroupSnapshotClass) becomes ready, pods overwrite both PVCs, and
// PVCs restored from the group's member VolumeSnapshots show the data as
// of the group snapshot. Deleting the VolumeGroupSnapshot removes its
// member snapshots (delete-everything then checks that Ceph is empty).
func groupSnapshotPodData(t *testing.T, d *driver) {
	ctx := t.Context()
	group := d.drv + "-group"
	var want []string
	for i := range 2 {
		c := d.podClaim(fmt.Sprintf("%s-%d", group, i), corev1.PersistentVolumeFilesystem)
		c.labels = map[string]string{"e2e-group": group}
		bindAndCheck(t, d, c, gib)
		// Both texts have the same length (one digit of index, 19 of time).
		text := fmt.Sprintf("%s before the group snapshot %d", c.name, time.Now().UnixNano())
		runPod(t, d, podSpec{name: c.name + "-w1", pvc: c.name, args: []string{"write", "/data/g.txt", text}})
		want = append(want, text)
	}
	if err := d.createGroupSnapshot(ctx, group); err != nil {
		t.Fatal(err)
	}
	members := waitGroupSnapshotMembers(t, d, group, 2)
	t.Logf("ok: VolumeGroupSnapshot %s ready with member VolumeSnapshots %v", group, members)
	for i := range 2 {
		runPod(t, d, podSpec{name: fmt.Sprintf("%s-%d-w2", group, i), pvc: fmt.Sprintf("%s-%d", group, i),
			args: []string{"write", "/data/g.txt", "overwritten after the group snapshot"}})
	}
	var got []string
	for i, m := range members {
		r := d.podClaim(fmt.Sprintf("%s-restored-%d", group, i), corev1.PersistentVolumeFilesystem)
		r.source = snapshotSource(m)
		bindAndCheck(t, d, r, gib)
		got = append(got, runPod(t, d, podSpec{name: r.name + "-r", pvc: r.name, args: []string{"read", "/data/g.txt", fmt.Sprint(len(want[i]))}}))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("the restored members hold %q, want %q (the data as of the group snapshot)", got, want)
	}
	t.Logf("ok: every restored member shows its PVC's data as of the group snapshot")
	deleteGroupSnapshot(t, d, group, members)
}

// createGroupSnapshot takes a VolumeGroupSnapshot of the PVCs labelled
// e2e-group=name, with the driver's e2e group snapshot class.
func (d *driver) createGroupSnapshot(ctx context.Context, name string) error {
	vgs := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "groupsnapshot.storage.k8s.io/v1beta2", "kind": "VolumeGroupSnapshot",
		"metadata": map[string]any{"name": name, "namespace": d.ns},
		"spec": map[string]any{
			"volumeGroupSnapshotClassName": d.class("-group"),
			"source": map[string]any{"selector": map[string]any{
				"matchLabels": map[string]any{"e2e-group": name}}},
		},
	}}
	_, err := d.kube.dyn.Resource(vgsGVR).Namespace(d.ns).Create(ctx, vgs, metav1.CreateOptions{})
	return err
}

// waitGroupSnapshotMembers waits until the VolumeGroupSnapshot is ready
// and n member VolumeSnapshots (owned by it) are readyToUse; it returns
// their names.
func waitGroupSnapshotMembers(t *testing.T, d *driver, name string, n int) []string {
	t.Helper()
	ctx := t.Context()
	var members []string
	waitFor(t, 3*time.Minute, "VolumeGroupSnapshot "+d.ns+"/"+name+" and its members ready", func() (bool, error) {
		vgs, err := d.kube.dyn.Resource(vgsGVR).Namespace(d.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if ready, _, _ := unstructured.NestedBool(vgs.Object, "status", "readyToUse"); !ready {
			return false, fmt.Errorf("not ready: status %v", vgs.Object["status"])
		}
		members, err = d.ownedSnapshots(ctx, vgs.GetUID())
		if err != nil || len(members) != n {
			return false, err
		}
		return true, nil
	})
	return members
}

// ownedSnapshots lists the ready VolumeSnapshots of the test namespace
// owned by the object with uid.
func (d *driver) ownedSnapshots(ctx context.Context, uid any) ([]string, error) {
	list, err := d.kube.dyn.Resource(vsGVR).Namespace(d.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, vs := range list.Items {
		for _, o := range vs.GetOwnerReferences() {
			ready, _, _ := unstructured.NestedBool(vs.Object, "status", "readyToUse")
			if o.UID == uid && ready {
				out = append(out, vs.GetName())
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// deleteGroupSnapshot deletes the VolumeGroupSnapshot and waits until it
// and its member VolumeSnapshots are gone.
func deleteGroupSnapshot(t *testing.T, d *driver, name string, members []string) {
	t.Helper()
	ctx := t.Context()
	if err := d.kube.dyn.Resource(vgsGVR).Namespace(d.ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Minute, "VolumeGroupSnapshot "+name+" and its members deleted", func() (bool, error) {
		if _, err := d.kube.dyn.Resource(vgsGVR).Namespace(d.ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
			return false, nil
		}
		for _, m := range members {
			if _, err := d.kube.dyn.Resource(vsGVR).Namespace(d.ns).Get(ctx, m, metav1.GetOptions{}); err == nil {
				return false, nil
			}
		}
		return true, nil
	})
	t.Logf("ok: VolumeGroupSnapshot %s and its %d member VolumeSnapshots deleted", name, len(members))
}
