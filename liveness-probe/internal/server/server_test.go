package server_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seed-6a310834/ceph-csi/liveness-probe/internal/csitest"
	"github.com/seed-6a310834/ceph-csi/liveness-probe/internal/metrics"
	"github.com/seed-6a310834/ceph-csi/liveness-probe/internal/prober"
	"github.com/seed-6a310834/ceph-csi/liveness-probe/internal/server"
)

// stubChecker returns a fixed result.
type stubChecker struct{ res prober.Result }

func (s stubChecker) Check(context.Context) prober.Result { return s.res }

func get(t *testing.T, h http.Handler, method, path string) (int, string, http.Header) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(body), rec.Result().Header
}

func TestHealthz(t *testing.T) {
	tests := []struct {
		name       string
		res        prober.Result
		wantCode   int
		wantPrefix string
	}{
		{"healthy", prober.Result{Driver: "d"}, http.StatusOK, `ok: driver "d" is ready`},
		{"not ready", prober.Result{Driver: "d", Reason: prober.ReasonNotReady}, http.StatusInternalServerError, "not_ready:"},
		{"timeout", prober.Result{Reason: prober.ReasonTimeout, Err: context.DeadlineExceeded}, http.StatusInternalServerError, `timeout: probing driver "unknown" failed: context deadline exceeded`},
		{"unavailable", prober.Result{Reason: prober.ReasonUnavailable, Err: errors.New("gone")}, http.StatusInternalServerError, "unavailable:"},
		{"error", prober.Result{Reason: prober.ReasonError, Err: errors.New("Unimplemented")}, http.StatusInternalServerError, "error:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := server.NewHandler(server.Config{
				MetricsPath: "/metrics", Registry: prometheus.NewRegistry(), Checker: stubChecker{tt.res},
			})
			if err != nil {
				t.Fatal(err)
			}
			code, body, hdr := get(t, h, http.MethodGet, "/healthz")
			if code != tt.wantCode || !strings.HasPrefix(body, tt.wantPrefix) {
				t.Errorf("GET /healthz = %d %q, want %d %q...", code, body, tt.wantCode, tt.wantPrefix)
			}
			if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type = %q", ct)
			}
			if code, _, _ := get(t, h, http.MethodHead, "/healthz"); code != tt.wantCode {
				t.Errorf("HEAD /healthz = %d, want %d", code, tt.wantCode)
			}
		})
	}
}

func TestHealthzRejectsOtherMethods(t *testing.T) {
	h, err := server.NewHandler(server.Config{
		MetricsPath: "/metrics", Registry: prometheus.NewRegistry(), Checker: stubChecker{},
	})
	if err != nil {
		t.Fatal(err)
	}
	if code, _, hdr := get(t, h, http.MethodPost, "/healthz"); code != http.StatusMethodNotAllowed || hdr.Get("Allow") == "" {
		t.Errorf("POST /healthz = %d (Allow %q), want 405 with Allow", code, hdr.Get("Allow"))
	}
}

func TestMetricsPath(t *testing.T) {
	m := metrics.New("test")
	h, err := server.NewHandler(server.Config{MetricsPath: "/custom", Registry: m.Registry(), Checker: stubChecker{}})
	if err != nil {
		t.Fatal(err)
	}
	code, body, _ := get(t, h, http.MethodGet, "/custom")
	if code != http.StatusOK {
		t.Fatalf("GET /custom = %d", code)
	}
	for _, want := range []string{`csi_liveness{driver="unknown"} 0`, "go_goroutines", "promhttp_metric_handler_requests_total"} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics output lacks %q", want)
		}
	}
	if code, _, _ := get(t, h, http.MethodGet, "/metrics"); code != http.StatusNotFound {
		t.Errorf("GET /metrics with --metrics-path=/custom = %d, want 404", code)
	}
}

func TestNewHandlerValidates(t *testing.T) {
	reg := prometheus.NewRegistry()
	for _, cfg := range []server.Config{
		{MetricsPath: "metrics", Registry: reg, Checker: stubChecker{}},
		{MetricsPath: "", Registry: reg, Checker: stubChecker{}},
		{MetricsPath: "/healthz", Registry: reg, Checker: stubChecker{}},
		{MetricsPath: "/metrics", Checker: stubChecker{}},
		{MetricsPath: "/metrics", Registry: reg},
	} {
		if _, err := server.NewHandler(cfg); err == nil {
			t.Errorf("NewHandler(%+v) succeeded, want error", cfg)
		}
	}
}

// TestHealthzMaxAgeOverHTTP serves a real prober over real HTTP with a fake
// clock: /healthz answers from the last result while it is young enough.
func TestHealthzMaxAgeOverHTTP(t *testing.T) {
	path := csitest.SocketPath(t)
	id := csitest.NewIdentity("d.example.com")
	csitest.StartCSI(t, path, id)
	target, err := prober.Target(path)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu  sync.Mutex
		now = time.Unix(1_700_000_000, 0)
	)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	m := metrics.New("test")
	p, err := prober.New(prober.Config{
		Target: target, Timeout: time.Second, HealthzMaxAge: 30 * time.Second, Recorder: m, Now: clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	h, err := server.NewHandler(server.Config{MetricsPath: "/metrics", Registry: m.Registry(), Checker: p})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	defer ts.Close()

	p.Probe(context.Background()) // the "background" probe
	id.SetReady(false)
	advance(29 * time.Second)
	if code, body, err := csitest.Get(ts.URL + "/healthz"); err != nil || code != http.StatusOK {
		t.Fatalf("cached /healthz = %d %q %v, want 200", code, body, err)
	}
	if got := id.Probes(); got != 1 {
		t.Errorf("probes = %d, want 1 (answered from cache)", got)
	}
	advance(2 * time.Second)
	code, body, err := csitest.Get(ts.URL + "/healthz")
	if err != nil || code != http.StatusInternalServerError || !strings.HasPrefix(body, "not_ready:") {
		t.Fatalf("stale /healthz = %d %q %v, want 500 not_ready", code, body, err)
	}
	if got := id.Probes(); got != 2 {
		t.Errorf("probes = %d, want 2 (live probe)", got)
	}
	if v, ok, _ := csitest.Value(csitest.Scrape(ts.URL+"/metrics"), metrics.LivenessName, map[string]string{"driver": "d.example.com"}); !ok || v != 0 {
		t.Errorf("csi_liveness after a live not_ready probe = %v (found %v), want 0", v, ok)
	}
}

func TestListenServeShutdown(t *testing.T) {
	h, err := server.NewHandler(server.Config{
		MetricsPath: "/metrics", Registry: prometheus.NewRegistry(), Checker: stubChecker{},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.Listen("127.0.0.1:0", h, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The port is taken now: a second Listen fails right away.
	if _, err := server.Listen(srv.Addr().String(), h, nil); err == nil {
		t.Error("second Listen on the same address succeeded")
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	url := "http://" + srv.Addr().String() + "/healthz"
	if code, _, err := csitest.Get(url); err != nil || code != http.StatusOK {
		t.Fatalf("GET /healthz = %d, %v", code, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve after Shutdown = %v, want nil", err)
	}
	if _, _, err := csitest.Get(url); err == nil {
		t.Error("server still answers after Shutdown")
	}
}

func TestShutdownWithoutServe(t *testing.T) {
	srv, err := server.Listen("127.0.0.1:0", http.NotFoundHandler(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if _, _, err := csitest.Get("http://" + srv.Addr().String() + "/"); err == nil {
		t.Error("listener still open after Shutdown")
	}
}
