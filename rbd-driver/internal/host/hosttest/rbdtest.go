// Package hosttest helps integration tests of the node packages: it creates
// a pool of their own on the local test cluster and images in it with the
// ceph and rbd command-line tools, and finds what a test may have leaked
// (loop devices, mounts, rbd-fuse processes).
package hosttest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/seed-6a310834/ceph-csi/shared/testcluster"
)

// Pool is a pool of the test cluster used by one test package.
type Pool struct {
	// Name is the pool name.
	Name string
	conf string
}

// cli runs a Ceph tool against the cluster whose ceph.conf is conf, for at
// most two minutes.
func cli(conf, tool string, args ...string) (string, error) {
	return cliTimeout(120, conf, tool, args...)
}

func cliTimeout(seconds int, conf, tool string, args ...string) (string, error) {
	cmd := exec.Command("timeout", append([]string{strconv.Itoa(seconds), tool, "--conf", conf}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", tool, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// EnsurePool creates the pool (8 PGs, initialised for RBD) unless it exists.
func EnsurePool(t testing.TB, c *testcluster.Cluster, name string) *Pool {
	t.Helper()
	p := &Pool{Name: name, conf: c.ConfPath}
	out, err := cli(p.conf, "ceph", "osd", "pool", "ls")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Fields(out) {
		if line == name {
			return p
		}
	}
	if _, err := cli(p.conf, "ceph", "osd", "pool", "create", name, "8", "8"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli(p.conf, "rbd", "pool", "init", name); err != nil {
		t.Fatal(err)
	}
	return p
}

// RBD runs the rbd tool with args and fails the test on error.
func (p *Pool) RBD(t testing.TB, args ...string) string {
	t.Helper()
	out, err := cli(p.conf, "rbd", args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// CreateImage creates an image of sizeMiB MiB and removes it when the test
// ends. An image that still has a watcher then (a killed client's watch
// lingers for 30 s, and rbd rm waits for it) is left to the removal of the
// pool.
func (p *Pool) CreateImage(t testing.TB, name string, sizeMiB int) {
	t.Helper()
	spec := p.Name + "/" + name
	p.RBD(t, "create", spec, "--size", strconv.Itoa(sizeMiB)+"M")
	t.Cleanup(func() {
		if _, err := cliTimeout(5, p.conf, "rbd", "rm", "--no-progress", spec); err != nil {
			t.Logf("image %s left to the pool removal: %v", spec, err)
		}
	})
}

// Resize sets the image's size to sizeMiB MiB.
func (p *Pool) Resize(t testing.TB, name string, sizeMiB int) {
	t.Helper()
	p.RBD(t, "resize", "--no-progress", p.Name+"/"+name, "--size", strconv.Itoa(sizeMiB)+"M")
}

// Leaks returns what refers to path prefix on this host: mounts below it,
// loop devices backed by files below it and processes with an argument
// below it.
func Leaks(prefix string) []string {
	var leaks []string
	for _, m := range mountsUnder(prefix) {
		leaks = append(leaks, "mount "+m.path+" ("+m.fsType+")")
	}
	for _, l := range loopsUnder(prefix) {
		leaks = append(leaks, "loop "+l)
	}
	for pid, cmd := range processesWith(prefix) {
		leaks = append(leaks, "process "+strconv.Itoa(pid)+" "+cmd)
	}
	return leaks
}

// ForceCleanup removes whatever Leaks(prefix) finds, so that a failed test
// does not leave a live rbd-fuse mount behind (removing a directory tree
// through it would delete the image): filesystem mounts first, then loop
// devices, then rbd-fuse mounts and processes.
func ForceCleanup(prefix string) {
	mounts := mountsUnder(prefix)
	for _, fuse := range []bool{false, true} {
		for i := len(mounts) - 1; i >= 0; i-- {
			if strings.HasPrefix(mounts[i].fsType, "fuse") == fuse {
				_ = exec.Command("umount", mounts[i].path).Run()
			}
		}
		if !fuse {
			for _, l := range loopsUnder(prefix) {
				_ = exec.Command("losetup", "--detach", strings.Fields(l)[0]).Run()
			}
		}
	}
	for pid := range processesWith(prefix) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

type mountPoint struct{ path, fsType string }

// mountsUnder lists the mounts at or below prefix, in mount order.
func mountsUnder(prefix string) []mountPoint {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []mountPoint
	for _, line := range strings.Split(string(b), "\n") {
		before, after, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(before), strings.Fields(after)
		if ok && len(f) > 4 && len(g) > 0 && strings.HasPrefix(f[4], prefix) {
			out = append(out, mountPoint{path: f[4], fsType: g[0]})
		}
	}
	return out
}

// loopsUnder lists "DEVICE BACKING-FILE" of the loop devices backed by a
// file below prefix.
func loopsUnder(prefix string) []string {
	out, err := exec.Command("losetup", "--list", "--noheadings", "--output", "NAME,BACK-FILE").Output()
	if err != nil {
		return nil
	}
	var loops []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], prefix) {
			loops = append(loops, f[0]+" "+f[1])
		}
	}
	return loops
}

// processesWith returns the command lines, by PID, of the live processes
// with an argument starting with prefix.
func processesWith(prefix string) map[int]string {
	out := map[int]string{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		for _, arg := range bytes.Split(b, []byte{0}) {
			if strings.HasPrefix(string(arg), prefix) && !isZombie(e.Name()) {
				out[pid] = strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
				break
			}
		}
	}
	return out
}

func isZombie(pid string) bool {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && i+2 < len(b) && (b[i+2] == 'Z' || b[i+2] == 'X')
}

// RequireRoot skips the test unless it runs as root (mount, losetup).
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIP integration: needs root for mount and losetup")
	}
}

// RemovePoolAfter runs the tests, then removes the pool if a cluster is
// configured (CEPH_CONF); for TestMain.
func RemovePoolAfter(m *testing.M, name string) int {
	code := m.Run()
	if conf := os.Getenv("CEPH_CONF"); conf != "" {
		if _, err := cli(conf, "ceph", "osd", "pool", "rm", name, name, "--yes-i-really-really-mean-it"); err != nil {
			fmt.Fprintf(os.Stderr, "removing test pool %s: %v\n", name, err)
		}
	}
	return code
}
