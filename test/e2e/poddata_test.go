package e2e

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// podClaim is a new 1Gi PVC of the driver's pod StorageClass (fuse
// mounters: krbd and kernel CephFS are not available on this node).
func (d *driver) podClaim(name string, mode corev1.PersistentVolumeMode) claim {
	c := d.source()
	c.name, c.mode, c.class = name, mode, d.class("-pods")
	if mode == corev1.PersistentVolumeBlock {
		c.class = d.class("-pods-block")
	}
	return c
}

// writeThenRead: one pod writes text to the volume and ends; after it is
// deleted, a new pod reads the same bytes.
func writeThenRead(t *testing.T, d *driver, c claim) {
	path, block := "/data/e2e.txt", c.mode == corev1.PersistentVolumeBlock
	if block {
		path = "/dev/e2e"
	}
	text := fmt.Sprintf("%s %s %d", d.drv, c.name, time.Now().UnixNano())
	msg := runPod(t, d, podSpec{name: c.name + "-writer", pvc: c.name, block: block,
		args: []string{"write", path, text}})
	t.Logf("ok: writer: %s", msg)
	got := runPod(t, d, podSpec{name: c.name + "-reader", pvc: c.name, block: block,
		args: []string{"read", path, fmt.Sprint(len(text))}})
	if got != text {
		t.Fatalf("the second pod read %q from %s, want %q", got, path, text)
	}
	t.Logf("ok: a new pod read back %q", got)
}

// fsPodData: a pod writes to a filesystem PVC, is deleted, a new pod reads
// the same bytes.
func fsPodData(t *testing.T, d *driver) {
	c := d.podClaim(d.drv+"-fs-pod", corev1.PersistentVolumeFilesystem)
	bindAndCheck(t, d, c, gib)
	writeThenRead(t, d, c)
}

// blockPodData: the same with a raw block PVC; the pods write and read the
// device.
func blockPodData(t *testing.T, d *driver) {
	c := d.podClaim(d.drv+"-block-pod", corev1.PersistentVolumeBlock)
	bindAndCheck(t, d, c, gib)
	writeThenRead(t, d, c)
}

// rwxTwoPods: two pods mount one ReadWriteMany PVC at once; each writes its
// file and waits for the other's, and each reports the other's text.
func rwxTwoPods(t *testing.T, d *driver) {
	c := d.podClaim(d.drv+"-rwx", corev1.PersistentVolumeFilesystem)
	c.access = corev1.ReadWriteMany
	bindAndCheck(t, d, c, gib)
	pods := []podSpec{
		{name: c.name + "-a", pvc: c.name, args: []string{"exchange", "/data/a.txt", "from a", "/data/b.txt"}},
		{name: c.name + "-b", pvc: c.name, args: []string{"exchange", "/data/b.txt", "from b", "/data/a.txt"}},
	}
	for _, p := range pods {
		if err := d.kube.createPod(t.Context(), d, p); err != nil {
			t.Fatal(err)
		}
	}
	for i, p := range pods {
		want := []string{"from b", "from a"}[i]
		if got := finishPod(t, d, p); got != want {
			t.Fatalf("pod %s saw %q in the other pod's file, want %q", p.name, got, want)
		}
	}
	t.Log("ok: both pods mounted the volume at once and each read the other's file")
}

// readWriteMany: the driver's usual volume is ReadWriteMany.
func readWriteMany(d *driver) bool { return d.source().access == corev1.ReadWriteMany }
