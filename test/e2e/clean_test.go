package e2e

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// clean: once every pod, PVC and snapshot of the driver is deleted (after
// delete-everything, which checks Ceph), the node holds no mount of the
// driver's volumes (kubelet's CSI staging and pod volume directories, the
// node plugin's state directory), no loop device backed by a file of this
// run, and no rbd-fuse or ceph-fuse process of this run. The kubelet
// unstages asynchronously, so it gets a minute.
func clean(t *testing.T, d *driver) {
	// The node DaemonSet's --state-dir (a host directory) holds the rbd
	// node plugin's fuse mounts and their loop devices' backing files.
	state := "/var/lib/" + d.drv + "-driver"
	roots := []string{state, filepath.Join(d.cfg.kubeletDir, "plugins", "kubernetes.io", "csi", d.csi),
		filepath.Join(d.cfg.kubeletDir, "pods")}
	if !d.cfg.kubelet {
		// The local node plugin's state is in run.sh's directory (with a
		// kubelet it holds containerd's state: the running pods' mounts).
		roots = append(roots, d.cfg.work)
	}
	var left []string
	ok, _ := poll(60*time.Second, func() (bool, error) {
		left = append(append(append(append(mountsUnder(roots), loopsUnder(d.cfg.work)...), loopsUnder(state)...),
			loopsNamed(d.volumeNames())...), helpersOf(roots)...)
		return len(left) == 0, nil
	})
	if !ok {
		t.Fatalf("left on the node: %s", strings.Join(left, "; "))
	}
	t.Log("ok: no mount, loop device or fuse helper of the test left on the node")
}

// mountsUnder lists the mounts below one of roots; under the kubelet's pods
// directory only CSI volumes count (kubernetes.io~csi/<pv>).
func mountsUnder(roots []string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return []string{err.Error()}
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 5 {
			continue
		}
		target := fields[4]
		for _, r := range roots {
			if !strings.HasPrefix(target, r+"/") {
				continue
			}
			if filepath.Base(r) == "pods" && !strings.Contains(target, "kubernetes.io~csi") {
				continue
			}
			out = append(out, "mount "+target)
		}
	}
	return out
}

// loopsNamed lists loop devices whose backing file is named like one of
// the test's volumes wherever it is: a loop device over an rbd-fuse file
// whose mount namespace is gone (a replaced node plugin container) has a
// backing file "/<image> (deleted)".
func loopsNamed(names []string) []string {
	files, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		back := strings.TrimSuffix(strings.TrimSpace(string(b)), " (deleted)")
		if slices.Contains(names, filepath.Base(back)) {
			out = append(out, "loop "+filepath.Base(filepath.Dir(filepath.Dir(f)))+" on "+strings.TrimSpace(string(b)))
		}
	}
	return out
}

// loopsUnder lists loop devices whose backing file is below root.
func loopsUnder(root string) []string {
	files, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil && strings.HasPrefix(strings.TrimSpace(string(b)), root+"/") {
			out = append(out, "loop "+filepath.Base(filepath.Dir(filepath.Dir(f)))+" on "+strings.TrimSpace(string(b)))
		}
	}
	return out
}

// helpersOf lists rbd-fuse and ceph-fuse processes whose command line names
// a path below one of roots.
func helpersOf(roots []string) []string {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var out []string
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || len(b) == 0 {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if name := filepath.Base(args[0]); name != "rbd-fuse" && name != "ceph-fuse" {
			continue
		}
		for _, r := range roots {
			if strings.Contains(string(b), r+"/") {
				out = append(out, "process "+strings.Join(args, " ")+" ("+p+")")
				break
			}
		}
	}
	return out
}
