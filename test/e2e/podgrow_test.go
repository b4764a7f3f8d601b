package e2e

import (
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// expandOnline: a mounted PVC grows to 2Gi while its pod runs (RBD: xfs,
// grown by the node plugin's NodeExpandVolume; CephFS: the quota), and the
// pod sees the new size; Ceph has the new image size or quota.
func expandOnline(t *testing.T, d *driver) {
	ctx := t.Context()
	c := d.podClaim(d.drv+"-grow", corev1.PersistentVolumeFilesystem)
	r := bindAndCheck(t, d, c, gib)
	// The pod ends once it sees at least 1.5 GiB (a 2 GiB filesystem less
	// its metadata).
	p := podSpec{name: c.name + "-pod", pvc: c.name, args: []string{"size", "/data", strconv.FormatInt(gib*3/2, 10)}}
	if err := d.kube.createPod(ctx, d, p); err != nil {
		t.Fatal(err)
	}
	waitFor(t, podTimeout, "pod "+p.name+" running", func() (bool, error) {
		pod, err := d.kube.cs.CoreV1().Pods(d.ns).Get(ctx, p.name, metav1.GetOptions{})
		return err == nil && pod.Status.Phase == corev1.PodRunning, err
	})
	two := resource.MustParse("2Gi")
	if err := d.kube.resizePVC(ctx, d.ns, c.name, two.String()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 120*time.Second, "PVC "+c.name+" capacity 2Gi (node expansion done)", func() (bool, error) {
		pvc, err := d.kube.pvc(ctx, d.ns, c.name)
		return err == nil && pvc.Status.Capacity.Storage().Cmp(two) == 0, err
	})
	if err := d.checkVolume(ctx, r.volume, 2*gib); err != nil {
		t.Fatal(err)
	}
	msg := finishPod(t, d, p)
	n, err := strconv.ParseInt(msg, 10, 64)
	if err != nil || n < gib*3/2 {
		t.Fatalf("the pod sees %q bytes on /data, want at least 1.5 GiB", msg)
	}
	t.Logf("ok: PVC 2Gi while mounted; the running pod sees %d bytes", n)
}
