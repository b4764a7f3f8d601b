package app_test

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/seed-6a310834/ceph-csi/liveness-probe/internal/csitest"
)

// DriverBinaryEnv names a CSI driver binary of ours (bin/rbd-driver or
// bin/cephfs-driver); `make test` sets it after `make build`.
const DriverBinaryEnv = "LIVENESS_TEST_DRIVER_BINARY"

// TestAgainstOurDriverBinary runs the exporter next to one of our real
// driver binaries, then kills the driver: the gauge must drop with reason
// unavailable, and come back when the driver is started again.
func TestAgainstOurDriverBinary(t *testing.T) {
	bin := os.Getenv(DriverBinaryEnv)
	if bin == "" {
		if os.Getenv("CEPH_CSI_REQUIRE_CLUSTER") == "1" {
			t.Fatalf("%s is not set (make test sets it to bin/rbd-driver)", DriverBinaryEnv)
		}
		t.Skipf("SKIP: %s not set; run through make test", DriverBinaryEnv)
	}
	path := csitest.SocketPath(t)
	stop := startDriver(t, bin, path)
	e := start(t, "unix://"+path)
	e.eventually(state{driver: "rbd.csi.ceph.com", live: 1, healthz: http.StatusOK, bodyPrefix: "ok:"})

	stop()
	e.eventually(state{driver: "rbd.csi.ceph.com", live: 0, reason: "unavailable", healthz: http.StatusInternalServerError})

	startDriver(t, bin, path)
	e.eventually(state{driver: "rbd.csi.ceph.com", live: 1, healthz: http.StatusOK, bodyPrefix: "ok:"})
}

// startDriver starts the driver in controller mode on path and returns a
// function that kills it (also registered as cleanup).
func startDriver(t *testing.T, bin, path string) func() {
	t.Helper()
	config := os.Getenv("CEPH_CSI_CONFIG")
	if config == "" {
		config = filepath.Join(t.TempDir(), "config.json")
		if err := os.WriteFile(config, []byte("[]"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "--endpoint", "unix://"+path, "--mode", "controller",
		"--driver-name", "rbd.csi.ceph.com", "--log-format", "console",
		"--cluster-config", config)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
	}
	t.Cleanup(stop)
	return stop
}
