package e2e

import (
	"fmt"
	"maps"
	"syscall"
	"testing"
	"time"
)

// livenessRestart: the controller's driver container is frozen (SIGSTOP);
// liveness-probe reports it (csi_liveness 1 -> 0 on its metrics), the
// kubelet's liveness probe through liveness-probe's /healthz restarts the
// container, and csi_liveness is 1 again. With the manifests' timings
// (liveness-probe every 30 s; the kubelet every 20 s, 5 failures, then 30 s
// of grace before SIGKILL) this takes about three minutes.
func livenessRestart(t *testing.T, d *driver) {
	ctx := t.Context()
	port, err := d.controllerPort("9808")
	if err != nil {
		t.Fatal(err)
	}
	metrics := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
	waitLiveness(t, d, metrics, 1)
	pod, err := d.driverPod(ctx, "controller")
	if err != nil {
		t.Fatal(err)
	}
	before, err := containerStatus(pod, d.plugin())
	if err != nil {
		t.Fatal(err)
	}
	pid, err := d.containerPID(ctx, before)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP %s (pid %d): %v", d.plugin(), pid, err)
	}
	// If the test ends early, the frozen process must not stay frozen.
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
	t.Logf("ok: %s (pid %d) frozen", d.plugin(), pid)
	waitLiveness(t, d, metrics, 0)
	waitFor(t, 5*time.Minute, d.plugin()+" restarted by the kubelet", func() (bool, error) {
		p, err := d.driverPod(ctx, "controller")
		if err != nil {
			return false, err
		}
		now, err := containerStatus(p, d.plugin())
		return err == nil && now.RestartCount > before.RestartCount && now.Ready, err
	})
	t.Logf("ok: the kubelet restarted %s", d.plugin())
	waitLiveness(t, d, metrics, 1)
	settle(t, d)
}

// settle waits until every container of the controller's pod is ready
// and none has restarted for 20 s, and records their restart counts as
// caused by this scenario: the sidecars exit when they lose the driver's
// socket (as they are built to) and the kubelet restarts them too.
func settle(t *testing.T, d *driver) {
	t.Helper()
	var last map[string]int32
	var since time.Time
	waitFor(t, 3*time.Minute, "the controller's containers ready and not restarting", func() (bool, error) {
		p, err := d.driverPod(t.Context(), "controller")
		if err != nil || !allReady(p) {
			last = nil
			return false, err
		}
		now := map[string]int32{}
		for _, s := range p.Status.ContainerStatuses {
			now[s.Name] = s.RestartCount
		}
		if !maps.Equal(now, last) {
			last, since = now, time.Now()
			return false, nil
		}
		return time.Since(since) >= 20*time.Second, nil
	})
	for name, n := range last {
		d.expectRestarts(name, n)
	}
	t.Logf("ok: restarts of the controller's containers since it started: %v", last)
}

// waitLiveness waits until liveness-probe's csi_liveness is want.
func waitLiveness(t *testing.T, d *driver, metrics string, want float64) {
	t.Helper()
	var got float64
	waitFor(t, 2*time.Minute, fmt.Sprintf("csi_liveness %v at %s", want, metrics), func() (bool, error) {
		var err error
		got, err = gauge(t.Context(), metrics, "csi_liveness")
		return err == nil && got == want, err
	})
	t.Logf("ok: csi_liveness %v", got)
}
