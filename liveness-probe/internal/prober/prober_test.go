package prober_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/liveness-probe/internal/csitest"
	"github.com/seed-6a310834/ceph-csi/liveness-probe/internal/metrics"
	"github.com/seed-6a310834/ceph-csi/liveness-probe/internal/prober"
)

const driverName = "test.csi.example.com"

// fakeClock is a manually advanced clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// newProber returns a prober for the unix socket path, recording into fresh
// metrics. Short timeout and backoff keep tests fast.
func newProber(t *testing.T, path string, mod func(*prober.Config)) (*prober.Prober, *metrics.Metrics) {
	t.Helper()
	target, err := prober.Target(path)
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New("test")
	cfg := prober.Config{
		Target:     target,
		Timeout:    300 * time.Millisecond,
		Interval:   20 * time.Millisecond,
		MaxBackoff: 50 * time.Millisecond,
		Recorder:   m,
	}
	if mod != nil {
		mod(&cfg)
	}
	p, err := prober.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p, m
}

func value(t *testing.T, m *metrics.Metrics, name string, labels map[string]string) float64 {
	t.Helper()
	v, ok, err := csitest.Value(m.Registry(), name, labels)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Fatalf("no series %s%v", name, labels)
	}
	return v
}

func liveness(t *testing.T, m *metrics.Metrics, driver string) float64 {
	t.Helper()
	return value(t, m, metrics.LivenessName, map[string]string{"driver": driver})
}

func failures(t *testing.T, m *metrics.Metrics, reason string) float64 {
	t.Helper()
	return value(t, m, metrics.FailuresName, map[string]string{"reason": reason})
}

// assertOnlyFailures checks the failure counters equal want (missing = 0).
func assertOnlyFailures(t *testing.T, m *metrics.Metrics, want map[string]float64) {
	t.Helper()
	for _, r := range metrics.FailureReasons() {
		if got := failures(t, m, r); got != want[r] {
			t.Errorf("failures{reason=%q} = %v, want %v", r, got, want[r])
		}
	}
}

func TestNewValidates(t *testing.T) {
	for name, cfg := range map[string]prober.Config{
		"no target":    {Timeout: time.Second},
		"no timeout":   {Target: "unix:///x.sock"},
		"negative age": {Target: "unix:///x.sock", Timeout: time.Second, HealthzMaxAge: -1},
	} {
		if p, err := prober.New(cfg); err == nil {
			_ = p.Close()
			t.Errorf("%s: New(%+v) succeeded, want error", name, cfg)
		}
	}
}

func TestProbeHealthy(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(*csitest.Identity)
	}{
		{"ready=true", func(id *csitest.Identity) { id.SetReady(true) }},
		{"ready unset means ready", func(id *csitest.Identity) { id.SetReadyUnset() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := csitest.SocketPath(t)
			id := csitest.NewIdentity(driverName)
			tc.setup(id)
			csitest.StartCSI(t, path, id)
			clock := newFakeClock()
			p, m := newProber(t, path, func(c *prober.Config) { c.Now = clock.Now })

			if got := liveness(t, m, metrics.UnknownDriver); got != 0 {
				t.Fatalf("before any probe: csi_liveness{driver=unknown} = %v, want 0", got)
			}
			res := p.Probe(context.Background())
			if !res.Healthy() || res.Driver != driverName || res.Err != nil {
				t.Fatalf("Probe() = %+v, want healthy %s", res, driverName)
			}
			if !strings.HasPrefix(res.Message(), "ok:") {
				t.Errorf("Message() = %q, want ok: prefix", res.Message())
			}
			if got := liveness(t, m, driverName); got != 1 {
				t.Errorf("csi_liveness{driver=%s} = %v, want 1", driverName, got)
			}
			series, err := csitest.Series(m.Registry(), metrics.LivenessName)
			if err != nil || len(series) != 1 {
				t.Errorf("csi_liveness series = %v (err %v), want exactly one (unknown is dropped)", series, err)
			}
			assertOnlyFailures(t, m, nil)
			if got, want := value(t, m, metrics.LastSuccessName, nil), float64(clock.Now().Unix()); got != want {
				t.Errorf("last success = %v, want %v", got, want)
			}
			if got := value(t, m, metrics.DurationName, nil); got != 1 {
				t.Errorf("duration histogram count = %v, want 1", got)
			}

			// The name is read once, not on every probe.
			p.Probe(context.Background())
			if got := id.PluginInfos(); got != 1 {
				t.Errorf("GetPluginInfo calls = %d, want 1", got)
			}
			if got := id.Probes(); got != 2 {
				t.Errorf("Probe calls = %d, want 2", got)
			}
			if last, ok := p.Last(); !ok || !last.Healthy() {
				t.Errorf("Last() = %+v, %v; want healthy", last, ok)
			}
		})
	}
}

func TestProbeNotReady(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(*csitest.Identity)
	}{
		{"ready=false", func(id *csitest.Identity) { id.SetReady(false) }},
		{"FAILED_PRECONDITION", func(id *csitest.Identity) {
			id.SetProbeError(status.Error(codes.FailedPrecondition, "backend not connected"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := csitest.SocketPath(t)
			id := csitest.NewIdentity(driverName)
			tc.setup(id)
			csitest.StartCSI(t, path, id)
			p, m := newProber(t, path, nil)

			res := p.Probe(context.Background())
			if res.Reason != prober.ReasonNotReady || res.Driver != driverName {
				t.Fatalf("Probe() = %+v, want not_ready for %s", res, driverName)
			}
			if !strings.HasPrefix(res.Message(), "not_ready:") {
				t.Errorf("Message() = %q, want not_ready: prefix", res.Message())
			}
			if got := liveness(t, m, driverName); got != 0 {
				t.Errorf("csi_liveness = %v, want 0", got)
			}
			assertOnlyFailures(t, m, map[string]float64{"not_ready": 1})
			if got := value(t, m, metrics.LastSuccessName, nil); got != 0 {
				t.Errorf("last success = %v, want 0", got)
			}

			// Recovery.
			id.SetProbeError(nil)
			id.SetReady(true)
			if res := p.Probe(context.Background()); !res.Healthy() {
				t.Fatalf("after recovery Probe() = %+v, want healthy", res)
			}
			if got := liveness(t, m, driverName); got != 1 {
				t.Errorf("csi_liveness after recovery = %v, want 1", got)
			}
		})
	}
}

func TestProbeTimeout(t *testing.T) {
	path := csitest.SocketPath(t)
	id := csitest.NewIdentity(driverName)
	csitest.StartCSI(t, path, id)
	const timeout = 200 * time.Millisecond
	p, m := newProber(t, path, func(c *prober.Config) { c.Timeout = timeout })
	if res := p.Probe(context.Background()); !res.Healthy() {
		t.Fatalf("first Probe() = %+v, want healthy", res)
	}

	id.SetHang(true)
	res := p.Probe(context.Background())
	if res.Reason != prober.ReasonTimeout {
		t.Fatalf("hanging Probe() = %+v, want timeout", res)
	}
	if res.Duration < timeout || res.Duration > 10*timeout {
		t.Errorf("hanging probe took %v, want about %v", res.Duration, timeout)
	}
	if got := liveness(t, m, driverName); got != 0 {
		t.Errorf("csi_liveness = %v, want 0", got)
	}
	assertOnlyFailures(t, m, map[string]float64{"timeout": 1})

	id.SetHang(false)
	if res := p.Probe(context.Background()); !res.Healthy() {
		t.Fatalf("after the hang Probe() = %+v, want healthy", res)
	}
	if got := liveness(t, m, driverName); got != 1 {
		t.Errorf("csi_liveness after the hang = %v, want 1", got)
	}
}

func TestProbeMissingSocket(t *testing.T) {
	path := csitest.SocketPath(t) // nothing listens here
	p, m := newProber(t, path, nil)
	for range 3 {
		res := p.Probe(context.Background())
		if res.Reason != prober.ReasonUnavailable {
			t.Fatalf("Probe() = %+v, want unavailable", res)
		}
	}
	if got := liveness(t, m, metrics.UnknownDriver); got != 0 {
		t.Errorf("csi_liveness{driver=unknown} = %v, want 0", got)
	}
	assertOnlyFailures(t, m, map[string]float64{"unavailable": 3})

	// The driver shows up late: no restart of the prober needed.
	csitest.StartCSI(t, path, csitest.NewIdentity(driverName))
	csitest.Eventually(t, 5*time.Second, func() error {
		if res := p.Probe(context.Background()); !res.Healthy() {
			return errors.New(res.Message())
		}
		return nil
	})
	if got := liveness(t, m, driverName); got != 1 {
		t.Errorf("csi_liveness = %v, want 1", got)
	}
}

func TestProbeNonCSIGRPCServer(t *testing.T) {
	path := csitest.SocketPath(t)
	csitest.StartNonCSI(t, path)
	p, m := newProber(t, path, nil)
	res := p.Probe(context.Background())
	if res.Reason != prober.ReasonError || status.Code(res.Err) != codes.Unimplemented {
		t.Fatalf("Probe() = %+v, want reason error with Unimplemented", res)
	}
	if got := liveness(t, m, metrics.UnknownDriver); got != 0 {
		t.Errorf("csi_liveness{driver=unknown} = %v, want 0", got)
	}
	assertOnlyFailures(t, m, map[string]float64{"error": 1})
}

func TestProbePlainListener(t *testing.T) {
	path := csitest.SocketPath(t)
	csitest.StartHTTP(t, path) // HTTP/1.1, not gRPC
	p, m := newProber(t, path, nil)
	for range 3 {
		// gRPC fails the HTTP/2 handshake and reports it as Unavailable.
		if res := p.Probe(context.Background()); res.Healthy() || res.Reason != prober.ReasonUnavailable {
			t.Fatalf("Probe() = %+v, want unavailable", res)
		}
	}
	if got := liveness(t, m, metrics.UnknownDriver); got != 0 {
		t.Errorf("csi_liveness{driver=unknown} = %v, want 0", got)
	}
	assertOnlyFailures(t, m, map[string]float64{"unavailable": 3})
}

// TestRunSurvivesDriverRestart runs the background loop while the driver is
// stopped (socket removed) and restarted on the same path, with a new name.
func TestRunSurvivesDriverRestart(t *testing.T) {
	path := csitest.SocketPath(t)
	id := csitest.NewIdentity(driverName)
	srv := csitest.StartCSI(t, path, id)
	p, m := newProber(t, path, nil)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	metricEquals := func(name string, labels map[string]string, want func(float64) bool) func() error {
		return func() error {
			v, ok, err := csitest.Value(m.Registry(), name, labels)
			if err != nil {
				return err
			}
			if !ok || !want(v) {
				return csitest.Mismatch(name, labels, v, ok)
			}
			return nil
		}
	}
	is := func(x float64) func(float64) bool { return func(v float64) bool { return v == x } }
	positive := func(v float64) bool { return v > 0 }

	csitest.Eventually(t, 5*time.Second, metricEquals(metrics.LivenessName, map[string]string{"driver": driverName}, is(1)))

	srv.Stop() // the driver goes away, its socket too
	csitest.Eventually(t, 5*time.Second, metricEquals(metrics.LivenessName, map[string]string{"driver": driverName}, is(0)))
	csitest.Eventually(t, 5*time.Second, metricEquals(metrics.FailuresName, map[string]string{"reason": "unavailable"}, positive))
	if last, _ := p.Last(); last.Reason != prober.ReasonUnavailable {
		t.Errorf("Last() while stopped = %+v, want unavailable", last)
	}

	// The driver comes back on the same path, upgraded to a new name.
	const newName = "renamed.csi.example.com"
	id.SetName(newName)
	csitest.StartCSI(t, path, id)
	csitest.Eventually(t, 5*time.Second, metricEquals(metrics.LivenessName, map[string]string{"driver": newName}, is(1)))
	series, err := csitest.Series(m.Registry(), metrics.LivenessName)
	if err != nil || len(series) != 1 || series[0]["driver"] != newName {
		t.Errorf("csi_liveness series = %v (err %v), want only driver=%s", series, err, newName)
	}
	if got := failures(t, m, "error") + failures(t, m, "not_ready"); got != 0 {
		t.Errorf("error+not_ready failures = %v, want 0", got)
	}
}

func TestProbeCallerGoneIsNotRecorded(t *testing.T) {
	path := csitest.SocketPath(t)
	id := csitest.NewIdentity(driverName)
	csitest.StartCSI(t, path, id)
	p, m := newProber(t, path, func(c *prober.Config) { c.Timeout = 10 * time.Second })
	id.SetHang(true)

	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-id.HangStarted(); cancel() }()
	res := p.Probe(ctx)
	if res.Healthy() {
		t.Fatalf("Probe() = %+v, want a failure", res)
	}
	if _, ok := p.Last(); ok {
		t.Errorf("a probe abandoned by its caller was stored as last result")
	}
	assertOnlyFailures(t, m, nil)
	if got := value(t, m, metrics.DurationName, nil); got != 0 {
		t.Errorf("duration count = %v, want 0", got)
	}
}

func TestCheckHealthzMaxAge(t *testing.T) {
	path := csitest.SocketPath(t)
	id := csitest.NewIdentity(driverName)
	csitest.StartCSI(t, path, id)
	clock := newFakeClock()
	p, _ := newProber(t, path, func(c *prober.Config) {
		c.Now = clock.Now
		c.HealthzMaxAge = 10 * time.Second
	})

	// No result yet: Check probes live.
	if res := p.Check(context.Background()); !res.Healthy() || id.Probes() != 1 {
		t.Fatalf("first Check() = %+v with %d probes, want healthy live probe", res, id.Probes())
	}
	id.SetReady(false)
	clock.Advance(9 * time.Second)
	if res := p.Check(context.Background()); !res.Healthy() || id.Probes() != 1 {
		t.Fatalf("Check() within max age = %+v with %d probes, want cached healthy", res, id.Probes())
	}
	clock.Advance(time.Second) // age == max age: stale
	if res := p.Check(context.Background()); res.Reason != prober.ReasonNotReady || id.Probes() != 2 {
		t.Fatalf("Check() after max age = %+v with %d probes, want live not_ready", res, id.Probes())
	}
}

func TestCheckWithoutMaxAgeAlwaysProbes(t *testing.T) {
	path := csitest.SocketPath(t)
	id := csitest.NewIdentity(driverName)
	csitest.StartCSI(t, path, id)
	p, _ := newProber(t, path, nil)
	for i := 1; i <= 3; i++ {
		p.Check(context.Background())
		if got := id.Probes(); got != int64(i) {
			t.Fatalf("after %d checks: %d probes, want %d", i, got, i)
		}
	}
}
