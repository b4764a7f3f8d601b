package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// nodePluginRestart: while a pod writes and reads its volume, the node
// plugin goes away and comes back. With a kubelet, the node DaemonSet's pod
// is deleted and the DaemonSet makes a new one; without, run.sh's local
// node plugin is killed (SIGKILL) and restarted.
//
// What must hold afterwards is what docs/migrating-node.md promises:
// data written before the restart reads back through a new pod, and a new
// pod mounts a new volume through the new plugin. The running pod's volume
// keeps working where the mounter's helper outlives the plugin (it does
// when only the process restarts); with the fuse mounters in a replaced
// container the helper dies with it, the running pod gets I/O errors, and
// recovery is the documented one: once that pod is gone, the next pod's
// stage mounts the volume afresh.
func nodePluginRestart(t *testing.T, d *driver) {
	ctx := t.Context()
	c := d.podClaim(d.drv+"-restart", corev1.PersistentVolumeFilesystem)
	bindAndCheck(t, d, c, gib)
	text := fmt.Sprintf("before the restart %d", time.Now().UnixNano())
	t.Logf("ok: writer: %s", runPod(t, d, podSpec{name: c.name + "-writer", pvc: c.name,
		args: []string{"write", "/data/before.txt", text}}))
	p := podSpec{name: c.name + "-probe", pvc: c.name, args: []string{"probe", "/data/probe.txt", "45"}}
	if err := d.kube.createPod(ctx, d, p); err != nil {
		t.Fatal(err)
	}
	waitFor(t, podTimeout, "pod "+p.name+" running", func() (bool, error) {
		pod, err := d.kube.cs.CoreV1().Pods(d.ns).Get(ctx, p.name, metav1.GetOptions{})
		return err == nil && pod.Status.Phase == corev1.PodRunning, err
	})
	if d.cfg.kubelet {
		replaceNodePod(t, d)
	} else {
		restartLocalNodePlugin(t, d)
	}
	t.Logf("the running pod: %s", probeOutcome(t, d, p))
	got := runPod(t, d, podSpec{name: c.name + "-reader", pvc: c.name,
		args: []string{"read", "/data/before.txt", fmt.Sprint(len(text))}})
	if got != text {
		t.Fatalf("after the restart a new pod read %q, want %q", got, text)
	}
	t.Logf("ok: after the restart a new pod read back what was written before it")
	fresh := d.podClaim(d.drv+"-restart-new", corev1.PersistentVolumeFilesystem)
	bindAndCheck(t, d, fresh, gib)
	writeThenRead(t, d, fresh)
}

// replaceNodePod deletes the node DaemonSet's pod and waits for its
// replacement to be ready and registered.
func replaceNodePod(t *testing.T, d *driver) {
	ctx := t.Context()
	old, err := d.driverPod(ctx, "node")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.kube.cs.CoreV1().Pods(d.driverNS()).Delete(ctx, old.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete the node plugin's pod %s: %v", old.Name, err)
	}
	waitFor(t, 3*time.Minute, "a new node plugin pod, ready", func() (bool, error) {
		p, err := d.driverPod(ctx, "node")
		return err == nil && p.UID != old.UID && allReady(p), err
	})
	t.Logf("ok: node plugin pod %s deleted, its replacement is ready", old.Name)
}

// restartLocalNodePlugin kills run.sh's local node plugin, which its
// supervisor restarts.
func restartLocalNodePlugin(t *testing.T, d *driver) {
	pidFile := filepath.Join(d.cfg.work, "pids", d.drv+"-node-driver.child")
	old, err := readPID(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatalf("kill the node plugin (pid %d): %v", old, err)
	}
	waitFor(t, 30*time.Second, "the node plugin restarted", func() (bool, error) {
		pid, err := readPID(pidFile)
		return err == nil && pid != old && syscall.Kill(pid, 0) == nil, err
	})
	t.Logf("ok: node plugin pid %d killed and restarted", old)
}

// probeOutcome waits for the probe pod to end, deletes it, and says how its
// volume fared; with a local plugin restart it must have kept working.
func probeOutcome(t *testing.T, d *driver, p podSpec) string {
	t.Helper()
	ctx := t.Context()
	var pod *corev1.Pod
	ok, err := poll(podTimeout, func() (bool, error) {
		var err error
		pod, err = d.kube.cs.CoreV1().Pods(d.ns).Get(ctx, p.name, metav1.GetOptions{})
		return err == nil && (pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed), err
	})
	if !ok {
		t.Fatalf("pod %s did not end: %v", p.name, err)
	}
	msg := terminationMessage(pod)
	d.kube.deletePod(t, d.ns, p.name, d.cfg.node)
	if pod.Status.Phase == corev1.PodSucceeded {
		return "its volume kept working: " + msg
	}
	if !d.cfg.kubelet {
		t.Fatalf("the running pod's volume failed across a plugin process restart: %s", msg)
	}
	return "its volume failed with the replaced container (fuse mounter, documented): " + msg
}

func readPID(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return pid, nil
}
