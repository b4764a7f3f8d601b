package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// poll calls cond every 0.5 s until it is true or timeout passed; an error
// counts as "not yet". It returns whether cond became true, and the last
// error.
func poll(timeout time.Duration, cond func() (bool, error)) (bool, error) {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if ok && err == nil {
			return true, nil
		}
		if time.Now().After(deadline) {
			return false, err
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// waitFor polls cond; on timeout the test fails naming what it waited for.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	if ok, err := poll(timeout, cond); !ok {
		t.Fatalf("timed out after %s waiting for %s (last error: %v)", timeout, what, err)
	}
}

// expectNone fails the test unless list returns nothing.
func expectNone(t *testing.T, what string, list func(context.Context) ([]string, error)) {
	t.Helper()
	l, err := list(t.Context())
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if len(l) > 0 {
		t.Fatalf("%s left: %s", what, strings.Join(l, " "))
	}
}

// waitBound waits until every PVC is Bound; on timeout it shows their
// events.
func waitBound(t *testing.T, d *driver, pvcs ...string) {
	t.Helper()
	ctx := t.Context()
	deadline := time.Now().Add(d.cfg.bindTimeout)
	for _, name := range pvcs {
		ok, err := poll(time.Until(deadline), func() (bool, error) {
			pvc, err := d.kube.pvc(ctx, d.ns, name)
			return err == nil && pvc.Status.Phase == corev1.ClaimBound, err
		})
		if !ok {
			ev, _ := d.kube.events(ctx, d.ns, "PersistentVolumeClaim", name, "")
			t.Fatalf("PVC %s/%s not Bound after %s (%v); events: %s", d.ns, name, d.cfg.bindTimeout, err,
				strings.Join(ev, "; "))
		}
	}
}

// checkPV asserts that the PV bound to the claim is the driver's, with the
// requested size and volume mode and the claim as its claimRef, and returns
// it.
func checkPV(t *testing.T, d *driver, c claim, size int64) *corev1.PersistentVolume {
	t.Helper()
	ctx := t.Context()
	pvc, err := d.kube.pvc(ctx, d.ns, c.name)
	if err != nil {
		t.Fatal(err)
	}
	if pvc.Spec.VolumeName == "" {
		t.Fatalf("PVC %s/%s has no volume", d.ns, c.name)
	}
	pv, err := d.kube.pv(ctx, pvc.Spec.VolumeName)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case pv.Spec.CSI == nil || pv.Spec.CSI.Driver != d.csi:
		t.Fatalf("PV %s: not a volume of %s: %+v", pv.Name, d.csi, pv.Spec.PersistentVolumeSource)
	case pv.Spec.Capacity.Storage().Value() != size:
		t.Fatalf("PV %s: capacity %s, want %d bytes", pv.Name, pv.Spec.Capacity.Storage(), size)
	case pv.Spec.VolumeMode == nil || *pv.Spec.VolumeMode != c.mode:
		t.Fatalf("PV %s: volumeMode %v, want %s", pv.Name, pv.Spec.VolumeMode, c.mode)
	case pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.Name != c.name:
		t.Fatalf("PV %s: claimRef is not %s", pv.Name, c.name)
	}
	return pv
}

// bindAndCheck creates the claim, waits until it is Bound, and checks its PV
// and the image or subvolume behind it (size bytes); it returns both names.
func bindAndCheck(t *testing.T, d *driver, c claim, size int64) volRef {
	t.Helper()
	if err := d.kube.createPVC(t.Context(), d.ns, c); err != nil {
		t.Fatal(err)
	}
	waitBound(t, d, c.name)
	r := checkVolumeOf(t, d, c, size)
	d.remember(c.name, r)
	return r
}

// checkVolumeOf checks a bound claim's PV and its image or subvolume.
func checkVolumeOf(t *testing.T, d *driver, c claim, size int64) volRef {
	t.Helper()
	pv := checkPV(t, d, c, size)
	vol, err := d.volumeOf(pv)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.checkVolume(t.Context(), vol, size); err != nil {
		t.Fatal(err)
	}
	t.Logf("ok: PVC %s: PV %s, volume %s, %d bytes", c.name, pv.Name, vol, size)
	return volRef{pv: pv.Name, volume: vol}
}

// mustContain fails the test unless the journal directory object holds key.
func mustContain(t *testing.T, d *driver, object, key string) {
	t.Helper()
	keys, err := d.journalKeys(t.Context(), object)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(keys, key) {
		t.Fatalf("journal %s has no key %s (keys: %s)", object, key, strings.Join(keys, " "))
	}
}
