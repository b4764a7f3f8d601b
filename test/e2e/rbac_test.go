package e2e

import (
	"bufio"
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// sidecars lists the controller's sidecars that run.sh started for the
// driver (pids/<driver>-csi-*.pid: the Deployment's containers).
func sidecars(work, drv string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(work, "pids", drv+"-csi-*.pid"))
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), drv+"-"), ".pid"))
	}
	if err == nil && len(names) == 0 {
		err = fmt.Errorf("no sidecar of %s was started (pids/%s-csi-*.pid)", drv, drv)
	}
	return names, err
}

// rbacAndProcesses: every sidecar ran as the ServiceAccount of
// manifests/<driver>, so a "forbidden" anywhere in its log is a missing RBAC
// rule; and no sidecar or driver has exited (with a kubelet: every
// container of the driver's pods is ready and none restarted but those a
// scenario restarted on purpose).
func rbacAndProcesses(t *testing.T, d *driver) {
	if d.cfg.kubelet {
		rbacAndContainers(t, d)
		return
	}
	cs, err := sidecars(d.cfg.work, d.drv)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sidecars: %s", strings.Join(cs, " "))
	for _, c := range cs {
		name := d.drv + "-" + c
		if line, err := firstMatch(filepath.Join(d.cfg.work, "logs", name+".log"), "forbidden"); err != nil {
			t.Errorf("%s: %v", name, err)
		} else if line != "" {
			t.Errorf("RBAC: %s was denied: %.300s", c, line)
		}
		if err := alive(d.cfg.work, name); err != nil {
			t.Errorf("%s exited: %v", c, err)
		}
	}
	if err := alive(d.cfg.work, d.drv+"-driver"); err != nil {
		t.Errorf("driver exited: %v", err)
	}
}

// firstMatch returns the first line of the file that contains word, in any
// case ("" if none).
func firstMatch(path, word string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for s.Scan() {
		if strings.Contains(strings.ToLower(s.Text()), word) {
			return s.Text(), nil
		}
	}
	return "", s.Err()
}

// alive checks that the process run.sh recorded in pids/NAME.pid still runs
// (and is not a zombie).
func alive(work, name string) error {
	b, err := os.ReadFile(filepath.Join(work, "pids", name+".pid"))
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("pid file of %s: %w", name, err)
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return fmt.Errorf("pid %d: %w", pid, err)
	}
	// The state follows the command name in parentheses.
	if i := strings.LastIndexByte(string(stat), ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
		return fmt.Errorf("pid %d is a zombie", pid)
	}
	return nil
}

// rbacAndContainers is rbacAndProcesses for the driver's pods.
func rbacAndContainers(t *testing.T, d *driver) {
	for _, component := range []string{"controller", "node"} {
		pod, err := d.driverPod(t.Context(), component)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range pod.Status.ContainerStatuses {
			want := int32(0)
			if component == "controller" {
				want = d.expectedRestarts(s.Name)
			}
			if s.Ready && s.RestartCount > want && component == "controller" && d.expectedRestarts(d.plugin()) > 0 &&
				exitedOnLostDriver(pod, s.Name) {
				// A sidecar notices the restarted driver when it next uses
				// its connection, and exits as built to.
				t.Logf("%s/%s: %d restarts after the driver's (exited on the lost connection)", pod.Name, s.Name, s.RestartCount)
				continue
			}
			if !s.Ready || s.RestartCount != want {
				t.Errorf("%s/%s: ready %v, %d restarts (want ready, %d)", pod.Name, s.Name, s.Ready, s.RestartCount, want)
			}
			if component == "node" || s.Name == d.plugin() || s.Name == "liveness-probe" {
				continue
			}
			checkForbidden(t, pod, s.Name)
		}
	}
}

// exitedOnLostDriver tells whether every earlier instance of the container
// ended with csi-lib-utils' "Lost connection to CSI driver, exiting" (the
// kubelet keeps each instance's log as <n>.log).
func exitedOnLostDriver(pod *corev1.Pod, container string) bool {
	dir := filepath.Join("/var/log/pods", pod.Namespace+"_"+pod.Name+"_"+string(pod.UID), container)
	logs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(logs) < 2 {
		return false
	}
	slices.SortFunc(logs, func(a, b string) int { return cmp.Compare(logNumber(a), logNumber(b)) })
	for _, f := range logs[:len(logs)-1] {
		b, err := os.ReadFile(f)
		if err != nil {
			return false
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if !strings.Contains(lines[len(lines)-1], "Lost connection to CSI driver, exiting") {
			return false
		}
	}
	return true
}

// logNumber is n of a kubelet container log <n>.log.
func logNumber(path string) int {
	n, _ := strconv.Atoi(strings.TrimSuffix(filepath.Base(path), ".log"))
	return n
}

// checkForbidden fails the test if a log of the container (also of a
// previous instance) in the kubelet's pod log directory says "forbidden".
func checkForbidden(t *testing.T, pod *corev1.Pod, container string) {
	t.Helper()
	dir := filepath.Join("/var/log/pods", pod.Namespace+"_"+pod.Name+"_"+string(pod.UID), container)
	logs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err == nil && len(logs) == 0 {
		err = fmt.Errorf("no log in %s", dir)
	}
	if err != nil {
		t.Errorf("%s/%s: %v", pod.Name, container, err)
	}
	for _, f := range logs {
		if line, err := firstMatch(f, "forbidden"); err != nil {
			t.Errorf("%s/%s: %v", pod.Name, container, err)
		} else if line != "" {
			t.Errorf("RBAC: %s was denied: %.300s", container, line)
		}
	}
}
