package faults

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
)

// outagePhaseLimit bounds each phase of an outage: the wait for every
// operation to be tried while the daemon is down, and the wait for every
// operation to succeed once it is back.
const outagePhaseLimit = 2 * time.Minute

// allowed are the codes a request may get during and around an outage.
// Aborted is the CSI answer for an operation still pending on the same
// volume: a request answered DeadlineExceeded goes on in the driver until
// Ceph answers, holding its lock.
var allowed = map[codes.Code]bool{codes.OK: true, codes.Unavailable: true, codes.DeadlineExceeded: true, codes.Aborted: true}

// TestMonitorStopped stops the monitor while both drivers serve a
// workload, then starts it again.
func TestMonitorStopped(t *testing.T) { testOutage(t, monDaemon) }

// TestOSDStopped stops the only OSD while both drivers serve a workload,
// then starts it again.
func TestOSDStopped(t *testing.T) { testOutage(t, osdDaemon) }

// testOutage runs the workload against both controllers, stops daemon
// until every operation of every driver has been tried without it, starts
// it again and waits until every operation has succeeded again, in the
// same driver processes. Every request must be answered by the driver
// before the client's deadline, with an allowed code; requests must have
// failed while the daemon was down; the driver processes must survive;
// nothing may be left behind once the workload's objects are deleted.
func testOutage(t *testing.T, daemon string) {
	c := requireCluster(t)
	s := newSetup(t, c)
	start := time.Now()
	drivers := []*driver{s.startController(rbdKind), s.startController(cephfsKind)}
	newUser := s.newUser()
	var ws []*workload
	for _, d := range drivers {
		ws = append(ws, newWorkload(t, d, d.secretsOf(newUser)))
	}
	for _, w := range ws {
		w.run()
		t.Cleanup(w.halt)
	}
	t.Logf("drivers and workloads ready in %s", time.Since(start).Round(100*time.Millisecond))
	stopDaemon(t, daemon)
	down := time.Now()
	for _, w := range ws {
		w.armed.Store(true)
	}
	waitAll(t, "every operation tried while "+daemon+" is down", ws, func(w *workload) bool { return w.triedAll(down) })
	startDaemon(t, daemon)
	back := time.Now()
	waitAll(t, "every operation served again after "+daemon+" came back", ws, func(w *workload) bool { return w.servedAgain(down, back) })
	for _, w := range ws {
		w.halt()
	}
	for _, w := range ws {
		t.Logf("%s: requests from the stop of %s on:\n%s", w.d.name, daemon, summary(w.since(down)))
		checkOutcomes(t, w, down, back)
		w.d.alive(t)
	}
	start = time.Now()
	for _, w := range ws {
		w.cleanUp(t)
		w.d.stop(t)
	}
	t.Logf("workloads cleaned up in %s", time.Since(start).Round(100*time.Millisecond))
}

// waitAll waits until every workload satisfies cond, at most
// outagePhaseLimit.
func waitAll(t *testing.T, what string, ws []*workload, cond func(*workload) bool) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(outagePhaseLimit)
	for {
		done := true
		for _, w := range ws {
			done = done && cond(w)
		}
		if done {
			t.Logf("%s: after %s", what, time.Since(start).Round(100*time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			for _, w := range ws {
				t.Logf("%s requests:\n%s", w.d.name, summary(w.since(start)))
				w.d.alive(t)
			}
			t.Fatalf("%s: not within %s", what, outagePhaseLimit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkOutcomes asserts that every request was answered by the driver
// with an allowed code, and that requests failed while the daemon was
// down (else the outage tested nothing).
func checkOutcomes(t *testing.T, w *workload, down, back time.Time) {
	t.Helper()
	failed := 0
	for _, o := range w.outcomes {
		switch {
		case o.clientExpired:
			t.Errorf("%s: %s: the driver did not answer before the client's deadline", w.d.name, o)
		case o.code == codes.Unavailable && fromTransport(o.msg):
			t.Errorf("%s: %s: the driver did not answer (process gone?)", w.d.name, o)
		case !allowed[o.code]:
			t.Errorf("%s: %s: want OK, Unavailable, DeadlineExceeded or Aborted", w.d.name, o)
		case o.code != codes.OK && o.started.After(down) && o.started.Before(back):
			failed++
		}
	}
	if failed == 0 {
		t.Errorf("%s: no request failed while the daemon was down", w.d.name)
	}
}

// fromTransport reports whether an Unavailable message is gRPC's own (no
// answer from the server) rather than the driver's.
func fromTransport(msg string) bool {
	return strings.HasPrefix(msg, "connection error:") || strings.Contains(msg, "error reading from server")
}

// summary renders the outcomes of each operation: how many of each code,
// and the first of each kind of failure.
func summary(os []outcome) string {
	var lines []string
	for _, op := range operations {
		counts := map[codes.Code]int{}
		var firsts []string
		for _, o := range os {
			if o.op != op {
				continue
			}
			if counts[o.code] == 0 && o.code != codes.OK {
				firsts = append(firsts, "    first "+o.started.Format("15:04:05.000")+": "+o.String())
			}
			counts[o.code]++
		}
		var cs []string
		for c, n := range counts {
			cs = append(cs, fmt.Sprintf("%s=%d", c, n))
		}
		sort.Strings(cs)
		lines = append(lines, "  "+op+": "+strings.Join(cs, " "))
		lines = append(lines, firsts...)
	}
	return strings.Join(lines, "\n")
}
