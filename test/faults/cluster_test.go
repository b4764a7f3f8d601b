package faults

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seed-6a310834/ceph-csi/shared/testcluster"
)

// Daemon names of test/cluster.sh.
const (
	monDaemon = "mon.a"
	osdDaemon = "osd.0"
)

// dirPrefix starts the CLUSTER_DIR of every private cluster; the suffix is
// the PID of the test process that owns it.
const dirPrefix = "/tmp/ceph-faults-"

// clusterScript is test/cluster.sh, relative to this package.
var clusterScript = filepath.Join("..", "cluster.sh")

// private is the cluster of this test process, set up by TestMain.
var private struct {
	dir     string
	monPort int
	// unusable says why the tests cannot run (skip or failure).
	unusable string
	// fail turns unusable into a failure instead of a skip.
	fail bool
}

// requireCluster returns the private cluster, or ends the test when there
// is none: a skip, or a failure under CEPH_CSI_REQUIRE_CLUSTER=1.
func requireCluster(t *testing.T) *testcluster.Cluster {
	t.Helper()
	if private.unusable != "" {
		if private.fail {
			t.Fatal(private.unusable)
		}
		t.Skip("SKIP faults: " + private.unusable)
	}
	return testcluster.Get(t)
}

// setUp starts the private cluster and points this process's Ceph
// environment (CEPH_CONF, ...) at it. It returns a function that stops the
// cluster and removes its directory.
func setUp() (tearDown func()) {
	want := os.Getenv(testcluster.RequireEnv) == "1" || os.Getenv("CEPH_CSI_FAULTS") == "1"
	private.fail = os.Getenv(testcluster.RequireEnv) == "1"
	switch {
	case !want:
		private.unusable = "set CEPH_CSI_FAULTS=1 (or CEPH_CSI_REQUIRE_CLUSTER=1) to run the fault tests; they start a cluster of their own"
		return func() {}
	case os.Geteuid() != 0:
		private.unusable = "the fault tests need root (mount, losetup, FUSE)"
		return func() {}
	}
	if dir := os.Getenv("CEPH_CSI_FAULTS_CLUSTER_DIR"); dir != "" {
		return useExisting(dir)
	}
	removeAbandoned()
	port, err := freeMonPort()
	if err != nil {
		private.unusable = err.Error()
		return func() {}
	}
	private.dir, private.monPort = dirPrefix+strconv.Itoa(os.Getpid()), port
	start := time.Now()
	out, err := runScript(5*time.Minute, "up")
	tearDown = func() {
		if os.Getenv("CEPH_CSI_FAULTS_KEEP") == "1" {
			fmt.Fprintf(os.Stderr, "faults: cluster kept in %s (CEPH_CSI_FAULTS_KEEP=1)\n", private.dir)
			return
		}
		if out, err := runScript(2*time.Minute, "down"); err != nil {
			fmt.Fprintf(os.Stderr, "faults: stopping the private cluster: %v\n%s", err, out)
		}
	}
	if err != nil {
		private.unusable = fmt.Sprintf("starting the private cluster in %s: %v\n%s", private.dir, err, out)
		return tearDown
	}
	if err := loadEnv(filepath.Join(private.dir, "env")); err != nil {
		private.unusable = err.Error()
		return tearDown
	}
	fmt.Fprintf(os.Stderr, "faults: private cluster in %s (mon port %d) up in %s\n",
		private.dir, port, time.Since(start).Round(100*time.Millisecond))
	return tearDown
}

// useExisting takes a running cluster of test/cluster.sh instead of
// starting one, and leaves it running (for development: it saves the
// bootstrap). The tests stop and start its daemons.
func useExisting(dir string) (tearDown func()) {
	private.dir, private.monPort = dir, monPortOf(filepath.Join(dir, "ceph.conf"))
	if out, err := runScript(5*time.Minute, "up"); err != nil {
		private.unusable = fmt.Sprintf("cluster in %s: %v\n%s", dir, err, out)
	} else if err := loadEnv(filepath.Join(dir, "env")); err != nil {
		private.unusable = err.Error()
	}
	return func() {}
}

// runScript runs test/cluster.sh on the private cluster.
func runScript(timeout time.Duration, args ...string) (string, error) {
	return runScriptIn(private.dir, private.monPort, timeout, args...)
}

func runScriptIn(dir string, monPort int, timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, clusterScript, args...)
	cmd.Env = append(withoutClusterEnv(os.Environ()), "CLUSTER_DIR="+dir, "MON_PORT="+strconv.Itoa(monPort),
		"MON_V2_PORT="+strconv.Itoa(monPort+1))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// clusterEnv are the variables of test/cluster.sh's env file: exported by
// `make test` for the shared cluster, they must not reach the script that
// bootstraps the private one (its ceph commands would read the shared
// cluster's configuration and keyring).
var clusterEnv = []string{"CEPH_CONF", "CEPH_KEYRING", "CEPH_ARGS", "CEPH_ADMIN_ID", "CEPH_ADMIN_KEY",
	"CEPH_MONITORS", "CEPH_CLUSTER_FSID", "CEPH_CSI_CONFIG"}

func withoutClusterEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(clusterEnv, k) {
			out = append(out, kv)
		}
	}
	return out
}

// loadEnv exports the variables of the cluster's env file into this
// process, replacing those of any other cluster (make test exports the
// shared cluster's).
func loadEnv(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "export ")
		if !ok {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return fmt.Errorf("%s: malformed line for %s", path, k)
		}
		if err := os.Setenv(k, v); err != nil {
			return err
		}
	}
	return sc.Err()
}

// freeMonPort returns a port below the OSDs' range (6800-7300) that is
// free together with the next one (msgr v1 and v2).
func freeMonPort() (int, error) {
	for p := 6787; p >= 6701; p -= 2 {
		if portFree(p) && portFree(p+1) {
			return p, nil
		}
	}
	return 0, errors.New("no free monitor port pair in 6701-6788")
}

func portFree(p int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// removeAbandoned stops the clusters of earlier test processes that died
// before their teardown (a panic or a test timeout ends the process without
// it).
func removeAbandoned() {
	dirs, _ := filepath.Glob(dirPrefix + "*")
	for _, dir := range dirs {
		pid, err := strconv.Atoi(strings.TrimPrefix(dir, dirPrefix))
		if err != nil || processAlive(pid) {
			continue
		}
		port := monPortOf(filepath.Join(dir, "ceph.conf"))
		if out, err := runScriptIn(dir, port, 2*time.Minute, "down"); err != nil {
			fmt.Fprintf(os.Stderr, "faults: removing the abandoned cluster %s: %v\n%s", dir, err, out)
		}
	}
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// monPortOf reads the msgr v1 port from a ceph.conf written by cluster.sh
// (0 when unreadable: `down` does not need it).
func monPortOf(conf string) int {
	b, err := os.ReadFile(conf)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "mon host = "); ok {
			if i := strings.LastIndex(rest, ":"); i >= 0 {
				p, _ := strconv.Atoi(strings.TrimSuffix(rest[i+1:], "]"))
				return p
			}
		}
	}
	return 0
}

// stopDaemon stops a daemon of the private cluster; the cleanup starts it
// again if the test did not.
func stopDaemon(t *testing.T, name string) {
	t.Helper()
	start := time.Now()
	if out, err := runScript(time.Minute, "stop", name); err != nil {
		t.Fatalf("cluster.sh stop %s: %v\n%s", name, err, out)
	}
	t.Logf("%s stopped in %s", name, time.Since(start).Round(100*time.Millisecond))
	t.Cleanup(func() {
		if !daemonRunning(name) {
			startDaemon(t, name)
		}
	})
}

// startDaemon starts a stopped daemon and waits until the cluster is
// healthy again.
func startDaemon(t *testing.T, name string) {
	t.Helper()
	start := time.Now()
	if out, err := runScript(4*time.Minute, "start", name); err != nil {
		t.Fatalf("cluster.sh start %s: %v\n%s", name, err, out)
	}
	t.Logf("%s started, cluster healthy in %s", name, time.Since(start).Round(100*time.Millisecond))
}

// daemonRunning reports whether cluster.sh has a live PID for the daemon.
func daemonRunning(name string) bool {
	b, err := os.ReadFile(filepath.Join(private.dir, "pids", name+".pid"))
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return err == nil && processAlive(pid)
}

// cli runs a Ceph command-line tool (ceph, rbd, rados) against the cluster,
// bounded so that a test never hangs on it.
func cli(t *testing.T, c *testcluster.Cluster, tool string, args ...string) string {
	t.Helper()
	out, err := cliErr(c, tool, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func cliErr(c *testcluster.Cluster, tool string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool, append([]string{"--conf", c.ConfPath}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", tool, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}
