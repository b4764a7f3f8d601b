package cephfs

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/seed-6a310834/ceph-csi/shared/crashpoint"
)

// childEnv makes the test binary run hitIfDone as a child process: the
// crash point kills the process for real, which a test cannot survive.
const childEnv = "CEPHFSADMIN_TEST_HIT"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "failed":
		_ = hitIfDone(StepSubvolumeCreated, errors.New("write failed"))
		os.Exit(0)
	case "done":
		_ = hitIfDone(StepSubvolumeCreated, nil)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runChild runs the test binary with the crash point armed at step and
// reports whether it died by SIGKILL.
func runChild(t *testing.T, mode, step string) bool {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode, crashpoint.EnvVar+"="+step)
	err = cmd.Run()
	if err == nil {
		return false
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("run child: %v", err)
	}
	ws, ok := exit.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want success or SIGKILL", err)
	}
	return true
}

func TestCrashPointOnlyAfterASuccessfulWrite(t *testing.T) {
	if !runChild(t, "done", StepSubvolumeCreated) {
		t.Fatal("armed step after a successful write: the process survived")
	}
	if runChild(t, "failed", StepSubvolumeCreated) {
		t.Fatal("armed step after a failed write: the process crashed")
	}
	if runChild(t, "done", StepSubvolumeRemoved) {
		t.Fatal("another step is armed: the process crashed")
	}
}

func TestCrashStepsAreUniqueAndNamespaced(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range CrashSteps {
		if !strings.HasPrefix(s, "cephfs.") || seen[s] {
			t.Errorf("step %q: duplicate or not prefixed with cephfs.", s)
		}
		seen[s] = true
	}
}
