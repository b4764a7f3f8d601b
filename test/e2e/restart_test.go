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
// plugin is killed (SIGKILL) and comes back (run.sh restarts it, as the
// kubelet restarts a container); the pod's volume keeps working throughout
// (the fuse helpers outlive the plugin), and a new pod mounts a new volume
// through the restarted plugin.
func nodePluginRestart(t *testing.T, d *driver) {
	ctx := t.Context()
	c := d.podClaim(d.drv+"-restart", corev1.PersistentVolumeFilesystem)
	bindAndCheck(t, d, c, gib)
	p := podSpec{name: c.name + "-probe", pvc: c.name, args: []string{"probe", "/data/probe.txt", "45"}}
	if err := d.kube.createPod(ctx, d, p); err != nil {
		t.Fatal(err)
	}
	waitFor(t, podTimeout, "pod "+p.name+" running", func() (bool, error) {
		pod, err := d.kube.cs.CoreV1().Pods(d.ns).Get(ctx, p.name, metav1.GetOptions{})
		return err == nil && pod.Status.Phase == corev1.PodRunning, err
	})
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
	t.Logf("ok: the running pod's volume kept working: %s", finishPod(t, d, p))
	fresh := d.podClaim(d.drv+"-restart-new", corev1.PersistentVolumeFilesystem)
	bindAndCheck(t, d, fresh, gib)
	writeThenRead(t, d, fresh)
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
