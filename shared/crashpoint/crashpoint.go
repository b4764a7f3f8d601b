// Package crashpoint lets reliability tests kill a driver process at a named
// step between two Ceph writes, to prove that a retry after a crash at any
// step converges on one volume and leaks nothing.
//
// A production process never crashes here: Hit does nothing unless the
// environment variable EnvVar was set when the process started. Tests start
// the driver binary with EnvVar=<step> (and optionally EnvSkip=<n> to let the
// first n hits of that step pass), then restart it without the variable and
// repeat the request.
package crashpoint

import (
	"os"
	"strconv"
	"sync"
	"syscall"
)

const (
	// EnvVar names the step at which the process kills itself with SIGKILL.
	EnvVar = "CEPH_CSI_CRASH_AT"
	// EnvSkip is how many hits of the step pass before the crash (default 0).
	EnvSkip = "CEPH_CSI_CRASH_SKIP"
)

var (
	armed = os.Getenv(EnvVar)
	mu    sync.Mutex
	skip  = parseSkip(os.Getenv(EnvSkip))
	// kill is replaced in this package's tests.
	kill = func() { _ = syscall.Kill(os.Getpid(), syscall.SIGKILL) }
)

func parseSkip(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// Hit kills the process with SIGKILL when step is the armed step (after the
// configured number of passes). It returns normally otherwise, at the cost of
// one string comparison.
func Hit(step string) {
	if armed == "" || step != armed {
		return
	}
	mu.Lock()
	defer mu.Unlock()
	if skip > 0 {
		skip--
		return
	}
	kill()
	select {} // SIGKILL is not deliverable late; never run past the crash point
}

// Armed reports the step the process will crash at, or "".
func Armed() string { return armed }
