// Package csitest provides test helpers: a small, controllable fake CSI
// Identity server on a real unix socket, non-CSI endpoints, metric readers
// and a polling helper. It is only imported by tests.
package csitest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Identity is a controllable CSI Identity service.
type Identity struct {
	csi.UnimplementedIdentityServer

	mu        sync.Mutex
	name      string
	ready     *bool // nil: leave ProbeResponse.ready unset
	hang      bool
	probeErr  error
	hangStart chan struct{} // closed when a hanging Probe starts, reset by SetHang

	probes atomic.Int64
	infos  atomic.Int64
}

// NewIdentity returns a healthy identity service for driver name.
func NewIdentity(name string) *Identity {
	return &Identity{name: name}
}

// SetName changes the name returned by GetPluginInfo.
func (s *Identity) SetName(name string) { s.mu.Lock(); s.name = name; s.mu.Unlock() }

// SetReady makes Probe answer ready=v.
func (s *Identity) SetReady(v bool) { s.mu.Lock(); s.ready = &v; s.mu.Unlock() }

// SetReadyUnset makes Probe leave ready unset (which means ready).
func (s *Identity) SetReadyUnset() { s.mu.Lock(); s.ready = nil; s.mu.Unlock() }

// SetProbeError makes Probe fail with err (nil: no error).
func (s *Identity) SetProbeError(err error) { s.mu.Lock(); s.probeErr = err; s.mu.Unlock() }

// SetHang makes Probe block until the caller's deadline (or server stop).
func (s *Identity) SetHang(v bool) {
	s.mu.Lock()
	s.hang = v
	s.hangStart = make(chan struct{})
	s.mu.Unlock()
}

// Probes is the number of Probe calls received.
func (s *Identity) Probes() int64 { return s.probes.Load() }

// PluginInfos is the number of GetPluginInfo calls received.
func (s *Identity) PluginInfos() int64 { return s.infos.Load() }

// GetPluginInfo implements csi.IdentityServer.
func (s *Identity) GetPluginInfo(context.Context, *csi.GetPluginInfoRequest) (*csi.GetPluginInfoResponse, error) {
	s.infos.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	return &csi.GetPluginInfoResponse{Name: s.name, VendorVersion: "test"}, nil
}

// GetPluginCapabilities implements csi.IdentityServer.
func (s *Identity) GetPluginCapabilities(context.Context, *csi.GetPluginCapabilitiesRequest) (*csi.GetPluginCapabilitiesResponse, error) {
	return &csi.GetPluginCapabilitiesResponse{}, nil
}

// Probe implements csi.IdentityServer.
func (s *Identity) Probe(ctx context.Context, _ *csi.ProbeRequest) (*csi.ProbeResponse, error) {
	s.probes.Add(1)
	s.mu.Lock()
	hang, ready, perr, started := s.hang, s.ready, s.probeErr, s.hangStart
	s.mu.Unlock()
	if hang {
		select {
		case <-started:
		default:
			close(started)
		}
		<-ctx.Done() // client deadline or server stop
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	if perr != nil {
		return nil, perr
	}
	resp := &csi.ProbeResponse{}
	if ready != nil {
		resp.Ready = wrapperspb.Bool(*ready)
	}
	return resp, nil
}

// SocketPath returns a unix socket path in a fresh t.TempDir(). Unix socket
// paths are limited to 107 bytes; if t.TempDir() is too long, a short
// temporary directory is used instead.
func SocketPath(t testing.TB) string {
	t.Helper()
	if p := filepath.Join(t.TempDir(), "csi.sock"); len(p) < 100 {
		return p
	}
	dir, err := os.MkdirTemp("", "lp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return filepath.Join(dir, "csi.sock")
}

// GRPCServer is a gRPC server listening on a unix socket.
type GRPCServer struct {
	Path string
	srv  *grpc.Server
	done chan struct{}
	once sync.Once
}

// StartCSI serves id on a unix socket at path. It is stopped on test cleanup.
func StartCSI(t testing.TB, path string, id *Identity) *GRPCServer {
	t.Helper()
	return startGRPC(t, path, func(s *grpc.Server) { csi.RegisterIdentityServer(s, id) })
}

// StartNonCSI serves a gRPC server with no CSI services at path.
func StartNonCSI(t testing.TB, path string) *GRPCServer {
	t.Helper()
	return startGRPC(t, path, func(*grpc.Server) {})
}

func startGRPC(t testing.TB, path string, register func(*grpc.Server)) *GRPCServer {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatalf("listen on %s: %v", path, err)
	}
	s := &GRPCServer{Path: path, srv: grpc.NewServer(), done: make(chan struct{})}
	register(s.srv)
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	t.Cleanup(s.Stop)
	return s
}

// Stop stops the server hard (like a crashed driver) and waits for it; the
// socket file is removed. Safe to call more than once.
func (s *GRPCServer) Stop() {
	s.once.Do(func() {
		s.srv.Stop()
		<-s.done
	})
}

// StartHTTP serves plain HTTP/1.1 (not gRPC) on a unix socket at path.
func StartHTTP(t testing.TB, path string) {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatalf("listen on %s: %v", path, err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = fmt.Fprintln(w, "not a CSI driver")
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
}

// Eventually polls cond every 10ms until it returns nil or timeout passes,
// then fails the test with the last error.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s: %v", timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Value returns the value of the gauge or counter called name whose labels
// include labels, from g. ok is false if there is no such series.
func Value(g prometheus.Gatherer, name string, labels map[string]string) (v float64, ok bool, err error) {
	mfs, err := g.Gather()
	if err != nil {
		return 0, false, err
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, want := range labels {
				if have[k] != want {
					continue metrics
				}
			}
			switch {
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue(), true, nil
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue(), true, nil
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount()), true, nil
			}
		}
	}
	return 0, false, nil
}

// Series returns the label sets of all series of metric name.
func Series(g prometheus.Gatherer, name string) ([]map[string]string, error) {
	mfs, err := g.Gather()
	if err != nil {
		return nil, err
	}
	var out []map[string]string
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			ls := map[string]string{}
			for _, lp := range m.GetLabel() {
				ls[lp.GetName()] = lp.GetValue()
			}
			out = append(out, ls)
		}
	}
	return out, nil
}

// HangStarted returns a channel closed once a Probe started hanging after
// the last SetHang(true).
func (s *Identity) HangStarted() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hangStart
}

// Scrape returns a Gatherer that scrapes url over HTTP and parses the text
// exposition format, so that Value and Series work on a real /metrics.
func Scrape(url string) prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		code, body, err := Get(url)
		if err != nil {
			return nil, err
		}
		if code != http.StatusOK {
			return nil, fmt.Errorf("GET %s: status %d: %s", url, code, body)
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		mfs, err := parser.TextToMetricFamilies(strings.NewReader(body))
		if err != nil {
			return nil, err
		}
		out := make([]*dto.MetricFamily, 0, len(mfs))
		for _, mf := range mfs {
			out = append(out, mf)
		}
		return out, nil
	})
}

// Get does an HTTP GET with a 10s timeout and returns status and body.
func Get(url string) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// Mismatch describes a metric that does not have the expected value yet.
func Mismatch(name string, labels map[string]string, got float64, found bool) error {
	if !found {
		return fmt.Errorf("no series %s%v", name, labels)
	}
	return fmt.Errorf("%s%v = %v", name, labels, got)
}
