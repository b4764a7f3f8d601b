package app_test

// End-to-end tests: the whole exporter (app.Run) against a real gRPC CSI
// Identity server on a unix socket, observed only through real HTTP
// (/metrics scraped and parsed, /healthz).

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/seed-6a310834/ceph-csi/liveness-probe/internal/app"
	"github.com/seed-6a310834/ceph-csi/liveness-probe/internal/config"
	"github.com/seed-6a310834/ceph-csi/liveness-probe/internal/csitest"
	"github.com/seed-6a310834/ceph-csi/liveness-probe/internal/metrics"
)

const (
	driverName = "test.csi.example.com"
	timeout    = 300 * time.Millisecond
	wait       = 10 * time.Second
)

type exporter struct {
	t      *testing.T
	base   string
	cancel context.CancelFunc
	done   chan error
}

// start runs app.Run on 127.0.0.1:0 for the CSI address, with short
// interval, timeout and reconnect backoff.
func start(t *testing.T, csiAddress string) *exporter {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan net.Addr, 1)
	e := &exporter{t: t, cancel: cancel, done: make(chan error, 1)}
	go func() {
		e.done <- app.Run(ctx, app.Options{
			Config: config.Config{
				CSIAddress:    csiAddress,
				HTTPAddress:   "127.0.0.1:0",
				MetricsPath:   "/metrics",
				ProbeInterval: 25 * time.Millisecond,
				ProbeTimeout:  timeout,
			},
			Version:    "test",
			Logger:     zaptest.NewLogger(t),
			MaxBackoff: 50 * time.Millisecond,
			OnListen:   func(a net.Addr) { addrs <- a },
		})
	}()
	select {
	case a := <-addrs:
		e.base = "http://" + a.String()
	case err := <-e.done:
		t.Fatalf("app.Run returned early: %v", err)
	}
	t.Cleanup(e.stop)
	return e
}

// stop cancels the context (like SIGTERM) and checks a clean, quick exit.
func (e *exporter) stop() {
	e.cancel()
	select {
	case err := <-e.done:
		if err != nil {
			e.t.Errorf("app.Run = %v, want nil after cancel", err)
		}
		e.done <- nil // keep stop idempotent
	case <-time.After(wait):
		e.t.Errorf("app.Run did not return within %s of cancel", wait)
	}
}

// running fails the test if the exporter exited.
func (e *exporter) running() {
	e.t.Helper()
	select {
	case err := <-e.done:
		e.t.Fatalf("exporter exited: %v", err)
	default:
	}
}

func (e *exporter) metric(name string, labels map[string]string) (float64, bool, error) {
	return csitest.Value(csitest.Scrape(e.base+"/metrics"), name, labels)
}

// state is what a scenario expects to observe.
type state struct {
	driver     string  // csi_liveness driver label
	live       float64 // csi_liveness value
	reason     string  // failure counter that must be > 0 ("" = none)
	healthz    int     // /healthz status
	bodyPrefix string  // /healthz body prefix
}

// eventually polls /metrics and /healthz until they show want.
func (e *exporter) eventually(want state) {
	e.t.Helper()
	csitest.Eventually(e.t, wait, func() error {
		if v, ok, err := e.metric(metrics.LivenessName, map[string]string{"driver": want.driver}); err != nil || !ok || v != want.live {
			return fmt.Errorf("csi_liveness{driver=%q} = %v (found %v, err %v), want %v", want.driver, v, ok, err, want.live)
		}
		if want.reason != "" {
			if v, ok, err := e.metric(metrics.FailuresName, map[string]string{"reason": want.reason}); err != nil || !ok || v <= 0 {
				return fmt.Errorf("failures{reason=%q} = %v (found %v, err %v), want > 0", want.reason, v, ok, err)
			}
		}
		code, body, err := csitest.Get(e.base + "/healthz")
		if err != nil || code != want.healthz || !strings.HasPrefix(body, want.bodyPrefix) {
			return fmt.Errorf("/healthz = %d %q (err %v), want %d %q...", code, body, err, want.healthz, want.bodyPrefix)
		}
		return nil
	})
	e.running()
}

func (e *exporter) failures(reason string) float64 {
	e.t.Helper()
	v, ok, err := e.metric(metrics.FailuresName, map[string]string{"reason": reason})
	if err != nil || !ok {
		e.t.Fatalf("failures{reason=%q}: found %v, err %v", reason, ok, err)
	}
	return v
}

// noFailuresBut asserts that all failure counters except allowed are 0.
func (e *exporter) noFailuresBut(allowed ...string) {
	e.t.Helper()
	ok := map[string]bool{}
	for _, r := range allowed {
		ok[r] = true
	}
	for _, r := range metrics.FailureReasons() {
		if !ok[r] {
			if v := e.failures(r); v != 0 {
				e.t.Errorf("failures{reason=%q} = %v, want 0", r, v)
			}
		}
	}
}

var healthy = state{driver: driverName, live: 1, healthz: http.StatusOK, bodyPrefix: "ok:"}

func TestHealthyDriver(t *testing.T) {
	path := csitest.SocketPath(t)
	id := csitest.NewIdentity(driverName)
	id.SetReady(true)
	csitest.StartCSI(t, path, id)
	e := start(t, "unix://"+path)

	e.eventually(healthy)
	e.noFailuresBut()
	if v, ok, err := e.metric(metrics.LastSuccessName, nil); err != nil || !ok || v < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("last success = %v (found %v, err %v), want a recent unix time", v, ok, err)
	}
	if v, ok, err := e.metric(metrics.DurationName, nil); err != nil || !ok || v < 1 {
		t.Errorf("probe duration count = %v (found %v, err %v), want >= 1", v, ok, err)
	}
	series, err := csitest.Series(csitest.Scrape(e.base+"/metrics"), metrics.LivenessName)
	if err != nil || len(series) != 1 {
		t.Errorf("csi_liveness series = %v (err %v), want one", series, err)
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", metrics.BuildInfoName} {
		if _, ok, err := e.metric(name, nil); err != nil || !ok {
			t.Errorf("%s missing from /metrics (err %v)", name, err)
		}
	}
}

func TestDriverNotReady(t *testing.T) {
	path := csitest.SocketPath(t)
	id := csitest.NewIdentity(driverName)
	id.SetReady(false)
	csitest.StartCSI(t, path, id)
	e := start(t, path)

	e.eventually(state{driver: driverName, live: 0, reason: "not_ready", healthz: http.StatusInternalServerError, bodyPrefix: "not_ready:"})
	e.noFailuresBut("not_ready")

	id.SetReady(true)
	e.eventually(healthy)
}

func TestDriverHangs(t *testing.T) {
	path := csitest.SocketPath(t)
	id := csitest.NewIdentity(driverName)
	csitest.StartCSI(t, path, id)
	e := start(t, path)
	e.eventually(healthy)

	id.SetHang(true)
	begin := time.Now()
	code, body, err := csitest.Get(e.base + "/healthz")
	if err != nil || code != http.StatusInternalServerError || !strings.HasPrefix(body, "timeout:") {
		t.Fatalf("/healthz with a hanging driver = %d %q (err %v), want 500 timeout", code, body, err)
	}
	if took := time.Since(begin); took < timeout || took > 5*time.Second {
		t.Errorf("/healthz took %v, want about the probe timeout %v", took, timeout)
	}
	e.eventually(state{driver: driverName, live: 0, reason: "timeout", healthz: http.StatusInternalServerError, bodyPrefix: "timeout:"})
	e.noFailuresBut("timeout")

	id.SetHang(false)
	e.eventually(healthy)
}

func TestDriverRestartsOnSameSocket(t *testing.T) {
	path := csitest.SocketPath(t)
	id := csitest.NewIdentity(driverName)
	srv := csitest.StartCSI(t, path, id)
	e := start(t, path)
	e.eventually(healthy)

	srv.Stop() // the socket vanishes
	e.eventually(state{driver: driverName, live: 0, reason: "unavailable", healthz: http.StatusInternalServerError, bodyPrefix: "unavailable:"})

	srv = csitest.StartCSI(t, path, id) // the driver is back, same path
	e.eventually(healthy)
	e.noFailuresBut("unavailable")

	// Once more, so the recovery is not a one-off.
	before := e.failures("unavailable")
	srv.Stop()
	csitest.Eventually(t, wait, func() error {
		if got := e.failures("unavailable"); got <= before {
			return fmt.Errorf("unavailable failures = %v, want > %v", got, before)
		}
		return nil
	})
	csitest.StartCSI(t, path, id)
	e.eventually(healthy)
}

func TestNonCSIGRPCServer(t *testing.T) {
	path := csitest.SocketPath(t)
	csitest.StartNonCSI(t, path)
	e := start(t, path)

	e.eventually(state{driver: "unknown", live: 0, reason: "error", healthz: http.StatusInternalServerError, bodyPrefix: "error:"})
	_, body, _ := csitest.Get(e.base + "/healthz")
	if !strings.Contains(body, "Unimplemented") {
		t.Errorf("/healthz body %q does not mention Unimplemented", body)
	}
	e.noFailuresBut("error")
}

func TestPlainNonGRPCListener(t *testing.T) {
	path := csitest.SocketPath(t)
	csitest.StartHTTP(t, path)
	e := start(t, path)

	// gRPC cannot even set up HTTP/2 and reports Unavailable.
	e.eventually(state{driver: "unknown", live: 0, reason: "unavailable", healthz: http.StatusInternalServerError, bodyPrefix: "unavailable:"})
	// It keeps trying.
	first := e.failures("unavailable")
	csitest.Eventually(t, wait, func() error {
		if got := e.failures("unavailable"); got < first+3 {
			return fmt.Errorf("unavailable failures = %v, want >= %v", got, first+3)
		}
		return nil
	})
	e.running()
	e.noFailuresBut("unavailable", "timeout")
}

func TestBadSocketPathThenDriverAppears(t *testing.T) {
	path := csitest.SocketPath(t) // nothing there yet
	e := start(t, path)
	e.eventually(state{driver: "unknown", live: 0, reason: "unavailable", healthz: http.StatusInternalServerError, bodyPrefix: "unavailable:"})

	csitest.StartCSI(t, path, csitest.NewIdentity(driverName))
	e.eventually(healthy)
	series, err := csitest.Series(csitest.Scrape(e.base+"/metrics"), metrics.LivenessName)
	if err != nil || len(series) != 1 || series[0]["driver"] != driverName {
		t.Errorf("csi_liveness series = %v (err %v), want only driver=%s", series, err, driverName)
	}
}

func TestGracefulShutdown(t *testing.T) {
	path := csitest.SocketPath(t)
	id := csitest.NewIdentity(driverName)
	csitest.StartCSI(t, path, id)
	e := start(t, path)
	e.eventually(healthy)

	// An in-flight /healthz on a hanging driver must not block shutdown
	// for longer than the probe timeout (+ grace).
	id.SetHang(true)
	inflight := make(chan int, 1)
	go func() {
		code, _, _ := csitest.Get(e.base + "/healthz")
		inflight <- code
	}()
	<-id.HangStarted()

	begin := time.Now()
	e.stop()
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("shutdown took %v", took)
	}
	if code := <-inflight; code != http.StatusInternalServerError {
		t.Errorf("in-flight /healthz during shutdown = %d, want 500 (answered, not dropped)", code)
	}
	if _, _, err := csitest.Get(e.base + "/healthz"); err == nil {
		t.Error("HTTP server still answers after shutdown")
	}
	// app.Run only returns after the probe loop has returned, so the loop
	// is stopped here by construction; the gRPC connection is closed too.
}

func TestStartupErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	base := config.Config{
		CSIAddress: "/tmp/x.sock", HTTPAddress: "127.0.0.1:0", MetricsPath: "/metrics",
		ProbeInterval: time.Second, ProbeTimeout: time.Second,
	}
	for name, mod := range map[string]func(*config.Config){
		"bad csi address":  func(c *config.Config) { c.CSIAddress = "http://x" },
		"port in use":      func(c *config.Config) { c.HTTPAddress = ln.Addr().String() },
		"bad metrics path": func(c *config.Config) { c.MetricsPath = "/healthz" },
		"zero timeout":     func(c *config.Config) { c.ProbeTimeout = 0 },
	} {
		cfg := base
		mod(&cfg)
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		err := app.Run(ctx, app.Options{Config: cfg})
		cancel()
		if err == nil || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: app.Run = %v, want a startup error", name, err)
		}
	}
}
