package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// badParameter: a PVC of the StorageClass with a wrong parameter (RBD
// imageFeatures, CephFS mounter) gets a ProvisioningFailed event naming the
// parameter and stays Pending; Ceph gets no new volume and no journal key.
func badParameter(t *testing.T, d *driver) {
	ctx := t.Context()
	beforeVols, err := d.volumes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	beforeKeys, err := d.journalKeys(ctx, "csi.volumes.default")
	if err != nil {
		t.Fatal(err)
	}
	c := d.source()
	c.name, c.class = d.drv+"-bad", d.class("-bad")
	if err := d.kube.createPVC(ctx, d.ns, c); err != nil {
		t.Fatal(err)
	}
	word := d.badParameter()
	var msg string
	waitFor(t, 60*time.Second, "a ProvisioningFailed event naming "+word, func() (bool, error) {
		ev, err := d.kube.events(ctx, d.ns, "PersistentVolumeClaim", c.name, "ProvisioningFailed")
		i := slices.IndexFunc(ev, func(m string) bool { return strings.Contains(m, word) })
		if i >= 0 {
			msg = ev[i]
		}
		return i >= 0, err
	})
	t.Logf("ok: event %s", msg)
	pvc, err := d.kube.pvc(ctx, d.ns, c.name)
	if err != nil || pvc.Status.Phase != corev1.ClaimPending {
		t.Fatalf("PVC %s: %v, want Pending (%v)", c.name, pvc.Status.Phase, err)
	}
	expectSame(t, "volumes", beforeVols, d.volumes)
	expectSame(t, "journal keys", beforeKeys, d.keys("csi.volumes.default"))
	t.Log("ok: nothing created in Ceph")
	if err := d.kube.cs.CoreV1().PersistentVolumeClaims(d.ns).Delete(ctx, c.name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "PVC "+c.name+" deleted", func() (bool, error) {
		_, err := d.kube.pvc(ctx, d.ns, c.name)
		return err != nil, nil
	})
}

// keys lists a journal directory object's keys, for expectSame.
func (d *driver) keys(object string) func(context.Context) ([]string, error) {
	return func(ctx context.Context) ([]string, error) { return d.journalKeys(ctx, object) }
}

// expectSame fails the test unless list returns what it did before.
func expectSame(t *testing.T, what string, before []string, list func(context.Context) ([]string, error)) {
	t.Helper()
	now, err := list(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(before, now) {
		t.Fatalf("%s changed: before %v, now %v", what, before, now)
	}
}
