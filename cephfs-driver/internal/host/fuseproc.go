package host

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// FuseProcesses returns the PIDs of the ceph-fuse daemons serving target
// (found by their command line in procRoot, normally /proc).
func FuseProcesses(procRoot, target string) []int {
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return nil
	}
	var pids []int
	want := []byte(filepath.Clean(target))
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join(procRoot, e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := bytes.Split(bytes.TrimRight(cmdline, "\x00"), []byte{0})
		if len(args) > 1 && filepath.Base(string(args[0])) == DefaultFuseBinary && bytes.Equal(args[1], want) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// StopFuse waits for the ceph-fuse daemons of an unmounted target to
// exit, which they do by themselves once they closed their MDS session
// (about 3 s); daemons still alive after grace get SIGTERM, then SIGKILL
// after another grace. It returns the number of daemons it had to signal.
func StopFuse(procRoot, target string, grace time.Duration) int {
	if waitGone(procRoot, target, grace) {
		return 0
	}
	pids := FuseProcesses(procRoot, target)
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	if !waitGone(procRoot, target, grace) {
		for _, pid := range FuseProcesses(procRoot, target) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	return len(pids)
}

// waitGone waits up to d for the daemons of target to exit.
func waitGone(procRoot, target string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if len(FuseProcesses(procRoot, target)) == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}
