package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The drivers' pods (with a kubelet, run.sh deploys manifests/<driver> as
// the controller Deployment and the node DaemonSet).

// driverNS is the namespace of a driver's Deployment and DaemonSet.
func (d *driver) driverNS() string { return "ceph-csi-" + d.drv }

// plugin is the name of the driver's container in both pods.
func (d *driver) plugin() string { return "csi-" + d.drv + "plugin" }

// driverPod returns the running pod of the driver's controller Deployment
// (component "controller") or node DaemonSet ("node").
func (d *driver) driverPod(ctx context.Context, component string) (*corev1.Pod, error) {
	sel := fmt.Sprintf("app.kubernetes.io/name=%s-csi-%s", d.drv, component)
	pods, err := d.kube.cs.CoreV1().Pods(d.driverNS()).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, err
	}
	var found []*corev1.Pod
	for i := range pods.Items {
		if p := &pods.Items[i]; p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			found = append(found, p)
		}
	}
	if len(found) != 1 {
		return nil, fmt.Errorf("%d running pods with %s in %s, want 1", len(found), sel, d.driverNS())
	}
	return found[0], nil
}

// containerStatus returns the status of container name in pod.
func containerStatus(pod *corev1.Pod, name string) (corev1.ContainerStatus, error) {
	for _, s := range pod.Status.ContainerStatuses {
		if s.Name == name {
			return s, nil
		}
	}
	return corev1.ContainerStatus{}, fmt.Errorf("pod %s has no status of container %s", pod.Name, name)
}

// allReady tells whether every container of pod is ready.
func allReady(pod *corev1.Pod) bool {
	for _, s := range pod.Status.ContainerStatuses {
		if !s.Ready {
			return false
		}
	}
	return len(pod.Status.ContainerStatuses) > 0
}

// containerPID returns the host PID of a running container's first
// process, as the node's containerd reports it (`ctr task ls`).
func (d *driver) containerPID(ctx context.Context, s corev1.ContainerStatus) (int, error) {
	id, ok := strings.CutPrefix(s.ContainerID, "containerd://")
	if !ok {
		return 0, fmt.Errorf("container %s: ID %q is not a containerd one", s.Name, s.ContainerID)
	}
	out, err := exec.CommandContext(ctx, "ctr", "--address", d.cfg.containerd, "--namespace", "k8s.io",
		"tasks", "ls").Output()
	if err != nil {
		return 0, fmt.Errorf("ctr tasks ls: %w", err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == id {
			return strconv.Atoi(f[1])
		}
	}
	return 0, fmt.Errorf("container %s (%s): no task in containerd", s.Name, id)
}

// controllerPort is the host port the test gave the controller's
// `--flag=:port` argument.
func (d *driver) controllerPort(port string) (int, error) {
	p, ok := d.cfg.controllerPorts[d.drv][port]
	if !ok {
		return 0, fmt.Errorf("no host port for the %s controller's :%s (E2E_CONTROLLER_PORTS)", d.drv, port)
	}
	return p, nil
}

// gauge reads a gauge with one series (labels or none) from a Prometheus
// text endpoint.
func gauge(ctx context.Context, url, name string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(body)) {
		line = strings.TrimSpace(line)
		if f := strings.Fields(line); len(f) >= 2 && (strings.HasPrefix(line, name+"{") || f[0] == name) {
			return strconv.ParseFloat(f[len(f)-1], 64)
		}
	}
	return 0, fmt.Errorf("%s: no sample of %s", url, name)
}
