package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// attach: a pod on the test's node uses a new PVC of the driver. For a
// driver whose CSIDriver has attachRequired (RBD), the attach/detach
// controller creates a VolumeAttachment for the PV on that node and
// csi-attacher marks it attached; once the pod is gone, the attachment is
// removed. For a driver without (CephFS), no VolumeAttachment appears.
func attach(t *testing.T, d *driver) {
	ctx := t.Context()
	required := d.attachRequired(t)
	if err := d.kube.ensureNode(ctx, d.cfg.node); err != nil {
		t.Fatal(err)
	}
	// The pods' class: with a kubelet on the node the pod really runs.
	c := d.podClaim(d.drv+"-attach", corev1.PersistentVolumeFilesystem)
	r := bindAndCheck(t, d, c, gib)
	pod := d.drv + "-attach"
	if err := d.kube.createPodOn(ctx, d.ns, pod, c.name, d.cfg.node, d.cfg.podImage); err != nil {
		t.Fatal(err)
	}
	va := func() (*storagev1.VolumeAttachment, error) { return d.kube.attachmentOf(ctx, r.pv, d.cfg.node) }
	if required {
		waitFor(t, 60*time.Second, "a VolumeAttachment of "+r.pv+" on "+d.cfg.node+" marked attached", func() (bool, error) {
			a, err := va()
			return err == nil && a.Spec.Attacher == d.csi && a.Status.Attached, err
		})
		a, _ := va()
		t.Logf("ok: VolumeAttachment %s: %s on %s, attached by %s", a.Name, r.pv, d.cfg.node, a.Spec.Attacher)
	} else if ok, _ := poll(5*time.Second, func() (bool, error) { _, err := va(); return err == nil, nil }); ok {
		t.Fatalf("a VolumeAttachment of %s appeared, but %s has attachRequired: false", r.pv, d.csi)
	}
	d.kube.deletePod(t, d.ns, pod, d.cfg.node)
	waitFor(t, 60*time.Second, "no VolumeAttachment of "+r.pv, func() (bool, error) {
		_, err := va()
		return apierrors.IsNotFound(err), nil
	})
}

// attachRequired reads the driver's CSIDriver object.
func (d *driver) attachRequired(t *testing.T) bool {
	t.Helper()
	cd, err := d.kube.cs.StorageV1().CSIDrivers().Get(t.Context(), d.csi, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cd.Spec.AttachRequired != nil && *cd.Spec.AttachRequired
}

// ensureNode creates the test's Node object unless it exists (a kubelet
// registers it), marked as managed by the attach/detach controller.
func (k *kube) ensureNode(ctx context.Context, name string) error {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{
		"volumes.kubernetes.io/controller-managed-attach-detach": "true",
	}}}
	_, err := k.cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// createPodOn creates a pod bound to node that mounts pvc at /data and
// runs the test's pod image (`pause`) in the host's network. Without a
// kubelet on the node it never runs; the attach/detach controller acts on it
// all the same.
func (k *kube) createPodOn(ctx context.Context, ns, name, pvc, node, image string) error {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PodSpec{
			NodeName: node, AutomountServiceAccountToken: new(false), HostNetwork: true,
			RestartPolicy: corev1.RestartPolicyNever, TerminationGracePeriodSeconds: new(int64(1)),
			Containers: []corev1.Container{{Name: "c", Image: image, ImagePullPolicy: corev1.PullNever,
				Args: []string{"pause"}, VolumeMounts: []corev1.VolumeMount{{Name: "v", MountPath: "/data"}}}},
			Volumes: []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: pvc}}}},
		},
	}
	_, err := k.cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
	return err
}

// deletePod deletes a pod and waits until it is gone. A pod on a node
// without a kubelet is removed at once (grace period 0): nothing would
// ever confirm its end.
func (k *kube) deletePod(t *testing.T, ns, name, node string) {
	t.Helper()
	ctx := t.Context()
	opts := metav1.DeleteOptions{}
	n, err := k.cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err == nil && n.Status.NodeInfo.KubeletVersion == "" {
		opts.GracePeriodSeconds = new(int64(0))
	}
	if err := k.cs.CoreV1().Pods(ns).Delete(ctx, name, opts); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 120*time.Second, "pod "+ns+"/"+name+" deleted", func() (bool, error) {
		_, err := k.cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}

// attachmentOf returns the VolumeAttachment of pv on node (a NotFound error
// if there is none).
func (k *kube) attachmentOf(ctx context.Context, pv, node string) (*storagev1.VolumeAttachment, error) {
	l, err := k.cs.StorageV1().VolumeAttachments().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for i, a := range l.Items {
		if a.Spec.NodeName == node && a.Spec.Source.PersistentVolumeName != nil && *a.Spec.Source.PersistentVolumeName == pv {
			return &l.Items[i], nil
		}
	}
	return nil, apierrors.NewNotFound(storagev1.Resource("volumeattachments"), fmt.Sprintf("%s on %s", pv, node))
}
