package csiserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// Names of the RPC metrics recorded by the server's interceptor.
const (
	MetricRequestsTotal   = "csi_rpc_requests_total"
	MetricDurationSeconds = "csi_rpc_duration_seconds"
	MetricInFlight        = "csi_rpc_in_flight"
)

// MetricsPath is the HTTP path ServeMetrics exposes metrics on.
const MetricsPath = "/metrics"

// durationBuckets covers fast identity calls up to slow provisioning calls.
func durationBuckets() []float64 {
	return []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}
}

// metricsShutdownTimeout bounds how long ServeMetrics waits for scrapes in
// progress when its context ends.
const metricsShutdownTimeout = 5 * time.Second

// rpcMetrics holds the per-RPC collectors, curried with the driver label.
type rpcMetrics struct {
	requests *prometheus.CounterVec
	duration prometheus.ObserverVec
	inFlight *prometheus.GaugeVec
}

// newRPCMetrics creates the RPC collectors for driver and registers them with
// reg. Collectors already registered (by another server on the same registry)
// are reused. A nil reg leaves the collectors unregistered.
func newRPCMetrics(reg prometheus.Registerer, driver string) (*rpcMetrics, error) {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricRequestsTotal,
		Help: "CSI gRPC requests handled, by driver, full method name and gRPC status code.",
	}, []string{"driver", "method", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    MetricDurationSeconds,
		Help:    "Time taken to handle CSI gRPC requests, by driver and full method name.",
		Buckets: durationBuckets(),
	}, []string{"driver", "method"})
	inFlight := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: MetricInFlight,
		Help: "CSI gRPC requests being handled, by driver and full method name.",
	}, []string{"driver", "method"})

	var err error
	if requests, err = register(reg, requests); err != nil {
		return nil, err
	}
	if duration, err = register(reg, duration); err != nil {
		return nil, err
	}
	if inFlight, err = register(reg, inFlight); err != nil {
		return nil, err
	}
	driverLabel := prometheus.Labels{"driver": driver}
	return &rpcMetrics{
		requests: requests.MustCurryWith(driverLabel),
		duration: duration.MustCurryWith(driverLabel),
		inFlight: inFlight.MustCurryWith(driverLabel),
	}, nil
}

// register registers c with reg, returning the already registered
// equivalent collector when there is one.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if reg == nil {
		return c, nil
	}
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var already prometheus.AlreadyRegisteredError
	if errors.As(err, &already) {
		if existing, ok := already.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("register metrics: %w", err)
}

// begin records the start of a call to method and returns the function that
// records its end with the call's status code.
func (m *rpcMetrics) begin(method string) func(code string) {
	start := time.Now()
	inFlight := m.inFlight.WithLabelValues(method)
	inFlight.Inc()
	return func(code string) {
		inFlight.Dec()
		m.duration.WithLabelValues(method).Observe(time.Since(start).Seconds())
		m.requests.WithLabelValues(method, code).Inc()
	}
}

// NewRegistry returns a new Prometheus registry holding the Go runtime and
// process collectors, for a driver to pass to New and ServeMetrics.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// NewMetricsHandler returns an HTTP handler exposing the metrics gathered
// from g in the Prometheus exposition formats.
func NewMetricsHandler(g prometheus.Gatherer, logger *zap.Logger) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorLog:      zap.NewStdLog(logger),
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// ServeMetrics serves the metrics gathered from g over HTTP on addr
// ("host:port") at MetricsPath until ctx ends. It returns nil after a clean
// shutdown and an error if it cannot listen or serve.
func ServeMetrics(ctx context.Context, addr string, g prometheus.Gatherer, logger *zap.Logger) error {
	var lc net.ListenConfig
	lis, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics listener: %w", err)
	}
	return serveMetrics(ctx, lis, g, logger)
}

// serveMetrics serves metrics on lis until ctx ends; it closes lis.
func serveMetrics(ctx context.Context, lis net.Listener, g prometheus.Gatherer, logger *zap.Logger) error {
	mux := http.NewServeMux()
	mux.Handle(MetricsPath, NewMetricsHandler(g, logger))
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          zap.NewStdLog(logger),
	}
	errCh := make(chan error, 1)
	go func() { errCh <- srv.Serve(lis) }()
	logger.Info("serving metrics", zap.String("address", lis.Addr().String()), zap.String("path", MetricsPath))

	select {
	case err := <-errCh:
		return fmt.Errorf("metrics server: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), metricsShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
	}
	<-errCh
	logger.Info("metrics server stopped")
	return nil
}
