package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// podTimeout bounds how long a pod of the test may take to end (stage,
// publish, run, report).
const podTimeout = 180 * time.Second

// podSpec is a pod of the test: the test's image running args, on the
// test's node in the host's network (no CNI), with one PVC mounted at /data
// or, for a block PVC, attached as /dev/e2e.
type podSpec struct {
	name, pvc string
	block     bool
	args      []string
}

func (k *kube) createPod(ctx context.Context, d *driver, p podSpec) error {
	c := corev1.Container{Name: "c", Image: d.cfg.podImage, ImagePullPolicy: corev1.PullNever, Args: p.args}
	if p.block {
		c.VolumeDevices = []corev1.VolumeDevice{{Name: "v", DevicePath: "/dev/e2e"}}
	} else {
		c.VolumeMounts = []corev1.VolumeMount{{Name: "v", MountPath: "/data"}}
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: p.name, Namespace: d.ns},
		Spec: corev1.PodSpec{
			NodeName: d.cfg.node, AutomountServiceAccountToken: new(false), HostNetwork: true,
			RestartPolicy: corev1.RestartPolicyNever, TerminationGracePeriodSeconds: new(int64(1)),
			Containers: []corev1.Container{c},
			Volumes: []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: p.pvc}}}},
		},
	}
	_, err := k.cs.CoreV1().Pods(d.ns).Create(ctx, pod, metav1.CreateOptions{})
	return err
}

// runPod runs a pod to its end, requires it to succeed, deletes it, and
// returns what it reported (its termination message).
func runPod(t *testing.T, d *driver, p podSpec) string {
	t.Helper()
	if err := d.kube.createPod(t.Context(), d, p); err != nil {
		t.Fatal(err)
	}
	return finishPod(t, d, p)
}

// finishPod waits for a created pod to end, requires it to succeed, deletes
// it, and returns what it reported.
func finishPod(t *testing.T, d *driver, p podSpec) string {
	t.Helper()
	ctx := t.Context()
	var pod *corev1.Pod
	ok, err := poll(podTimeout, func() (bool, error) {
		var err error
		pod, err = d.kube.cs.CoreV1().Pods(d.ns).Get(ctx, p.name, metav1.GetOptions{})
		return err == nil && (pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed), err
	})
	msg := terminationMessage(pod)
	if !ok || pod.Status.Phase != corev1.PodSucceeded {
		ev, _ := d.kube.events(ctx, d.ns, "Pod", p.name, "")
		t.Fatalf("pod %s (%v): phase %s, message %q (%v); events: %s", p.name, p.args, phase(pod), msg, err,
			strings.Join(ev, "; "))
	}
	d.kube.deletePod(t, d.ns, p.name, d.cfg.node)
	return msg
}

func phase(p *corev1.Pod) corev1.PodPhase {
	if p == nil {
		return ""
	}
	return p.Status.Phase
}

func terminationMessage(p *corev1.Pod) string {
	if p == nil {
		return ""
	}
	for _, s := range p.Status.ContainerStatuses {
		if s.State.Terminated != nil {
			return s.State.Terminated.Message
		}
	}
	return ""
}
