// Package server serves the liveness probe's HTTP endpoints: Prometheus
// metrics and /healthz.
package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/seed-6a310834/ceph-csi/liveness-probe/internal/prober"
)

// HealthzPath is where the kubelet liveness probe should point.
const HealthzPath = "/healthz"

// Checker decides whether the driver is healthy (prober.Prober.Check).
type Checker interface {
	Check(ctx context.Context) prober.Result
}

// Config configures the HTTP handler.
type Config struct {
	// MetricsPath serves the registry, e.g. "/metrics".
	MetricsPath string
	// Registry whose metrics are served. The promhttp handler metrics are
	// registered on it too.
	Registry *prometheus.Registry
	// Checker answers /healthz.
	Checker Checker
	// Logger (optional).
	Logger *zap.Logger
}

// NewHandler returns the HTTP handler with MetricsPath and /healthz.
func NewHandler(cfg Config) (http.Handler, error) {
	if cfg.MetricsPath == "" || cfg.MetricsPath[0] != '/' {
		return nil, fmt.Errorf("metrics path %q must start with /", cfg.MetricsPath)
	}
	if cfg.MetricsPath == HealthzPath {
		return nil, fmt.Errorf("metrics path must not be %s", HealthzPath)
	}
	if cfg.Registry == nil || cfg.Checker == nil {
		return nil, errors.New("server: registry and checker are required")
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	mux := http.NewServeMux()
	metricsHandler := promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{
		ErrorLog: zap.NewStdLog(log),
		Registry: cfg.Registry,
	})
	mux.Handle(cfg.MetricsPath, promhttp.InstrumentMetricHandler(cfg.Registry, metricsHandler))
	mux.Handle(HealthzPath, healthzHandler(cfg.Checker, log))
	return mux, nil
}

func healthzHandler(c Checker, log *zap.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		res := c.Check(r.Context())
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		code := http.StatusOK
		if !res.Healthy() {
			code = http.StatusInternalServerError
			log.Debug("healthz: unhealthy", zap.String("reason", string(res.Reason)), zap.Error(res.Err))
		}
		w.WriteHeader(code)
		_, _ = fmt.Fprintln(w, res.Message())
	})
}

// Server is an HTTP server bound to a listener.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Listen binds addr (e.g. ":9808") so that bind errors surface immediately.
func Listen(addr string, h http.Handler, log *zap.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %q: %w", addr, err)
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Server{
		ln: ln,
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          zap.NewStdLog(log),
		},
	}, nil
}

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve serves until Shutdown; it returns nil after a Shutdown.
func (s *Server) Serve() error {
	if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops accepting connections and waits for in-flight requests
// until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	// Serve closes the listener; this covers Shutdown without Serve.
	if cerr := s.ln.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) && err == nil {
		err = cerr
	}
	return err
}
