package e2e

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// scenario is one scenario family, written once for every driver.
type scenario struct {
	// name is the family's name; the scenario runs as "<driver>-<name>".
	name string
	// run asserts on Kubernetes and on Ceph; t.Fatal ends the scenario.
	run func(t *testing.T, d *driver)
	// needs are families that must have passed for this driver first.
	needs []string
	// kubelet: the scenario runs pods, so it needs a kubelet on the node.
	kubelet bool
	// applies, when set, tells whether the family applies to a driver
	// (one that does not is left out, not skipped).
	applies func(d *driver) bool
}

// outcome is one scenario's result line.
type outcome struct {
	verdict string // PASS, FAIL or SKIP
	name    string
	detail  string
}

// runner runs scenarios as subtests, prints `PASS <name>` / `FAIL <name>`
// as each ends, and the summary at the end.
type runner struct {
	mu       sync.Mutex
	outcomes []outcome
	passed   map[string]bool
}

// run runs s for d unless a family it needs did not pass for d.
func (r *runner) run(t *testing.T, d *driver, s scenario) {
	t.Helper()
	name := d.name() + "-" + s.name
	if s.applies != nil && !s.applies(d) {
		return
	}
	if s.kubelet && !d.cfg.kubelet {
		r.record(outcome{verdict: "SKIP", name: name, detail: "no kubelet (E2E_KUBELET=0)"})
		t.Run(name, func(t *testing.T) { t.Skip("no kubelet on the node (E2E_KUBELET=0)") })
		return
	}
	for _, dep := range s.needs {
		if !r.hasPassed(d.name() + "-" + dep) {
			r.record(outcome{verdict: "SKIP", name: name, detail: "needs " + d.name() + "-" + dep})
			t.Run(name, func(t *testing.T) { t.Skipf("needs %s-%s, which did not pass", d.name(), dep) })
			return
		}
	}
	start, ran := time.Now(), false
	ok := t.Run(name, func(t *testing.T) { ran = true; s.run(t, d) })
	if !ran {
		return // left out by -test.run (E2E_RUN): no line
	}
	o := outcome{verdict: "PASS", name: name, detail: fmt.Sprintf("%.0fs", time.Since(start).Seconds())}
	if !ok {
		o.verdict = "FAIL"
	}
	r.record(o)
}

func (r *runner) hasPassed(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.passed[name]
}

// record stores o and prints its line at once.
func (r *runner) record(o outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.passed == nil {
		r.passed = map[string]bool{}
	}
	r.passed[o.name] = o.verdict == "PASS"
	r.outcomes = append(r.outcomes, o)
	fmt.Fprintf(os.Stdout, "%s %s (%s)\n", o.verdict, o.name, o.detail)
}

func (r *runner) ran() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.outcomes) > 0
}

// summary prints every outcome again, then one line per family that runs
// for every driver (its name alone: PASS when it passed for each driver,
// FAIL when it failed for one, else SKIP), and the closing line
// `e2e: N passed, N failed, N skipped` (which counts the per-driver
// scenarios).
func (r *runner) summary(w io.Writer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	counts := map[string]int{}
	fmt.Fprintln(w, "== e2e results")
	for _, o := range r.outcomes {
		counts[o.verdict]++
		fmt.Fprintf(w, "%s %s (%s)\n", o.verdict, o.name, o.detail)
	}
	fmt.Fprintln(w, "== e2e results by family (every driver)")
	for _, f := range acrossDrivers {
		if v, names := r.family(f); len(names) > 0 {
			fmt.Fprintf(w, "%s %s (%s)\n", v, f, strings.Join(names, ", "))
		}
	}
	fmt.Fprintf(w, "e2e: %d passed, %d failed, %d skipped\n", counts["PASS"], counts["FAIL"], counts["SKIP"])
}

// acrossDrivers are the families reported by name alone too.
var acrossDrivers = []string{"attach", "snapshot-restore-pod-data", "group-snapshot-pod-data", "expand-online",
	"node-plugin-restart", "liveness-restart", "clean"}

// family returns the verdict of family f over the drivers it ran for, and
// those scenarios' names.
func (r *runner) family(f string) (string, []string) {
	verdict, names := "SKIP", []string(nil)
	passed := 0
	for _, o := range r.outcomes {
		if !strings.HasSuffix(o.name, "-"+f) || strings.Count(strings.TrimSuffix(o.name, "-"+f), "-") > 0 {
			continue
		}
		names = append(names, o.name)
		switch o.verdict {
		case "FAIL":
			verdict = "FAIL"
		case "PASS":
			passed++
		}
	}
	if verdict != "FAIL" && passed == len(names) && passed > 0 {
		verdict = "PASS"
	}
	return verdict, names
}
