// Package app wires the liveness probe together: prober, metrics and HTTP
// server, and runs them until the context ends.
package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/seed-6a310834/ceph-csi/liveness-probe/internal/config"
	"github.com/seed-6a310834/ceph-csi/liveness-probe/internal/metrics"
	"github.com/seed-6a310834/ceph-csi/liveness-probe/internal/prober"
	"github.com/seed-6a310834/ceph-csi/liveness-probe/internal/server"
)

// Options for Run.
type Options struct {
	Config  config.Config
	Version string
	Logger  *zap.Logger
	// MaxBackoff bounds gRPC's reconnect backoff (prober.DefaultMaxBackoff if 0).
	MaxBackoff time.Duration
	// OnListen, if set, is called with the bound HTTP address before serving.
	OnListen func(net.Addr)
}

// shutdownGrace is added to the probe timeout when waiting for in-flight
// HTTP requests (which may be live probes) during shutdown.
const shutdownGrace = 2 * time.Second

// Run runs the liveness probe until ctx ends (e.g. on SIGTERM), then shuts
// down gracefully: it stops the HTTP server, the probe loop and closes the
// gRPC connection. It returns an error if it cannot start or the HTTP server
// fails.
func Run(ctx context.Context, o Options) error {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	log := o.Logger
	p, target, m, err := newProber(o)
	if err != nil {
		return err
	}
	defer func() {
		if err := p.Close(); err != nil {
			log.Warn("closing gRPC connection", zap.Error(err))
		}
	}()
	srv, err := listen(o, p, m)
	if err != nil {
		return err
	}
	if o.OnListen != nil {
		o.OnListen(srv.Addr())
	}
	logStarted(o, target, srv.Addr())

	loopCtx, stopLoop := context.WithCancel(ctx)
	defer stopLoop()
	var loop sync.WaitGroup
	loop.Go(func() { p.Run(loopCtx) })
	runErr := serve(ctx, o, srv, stopLoop)
	loop.Wait()
	log.Info("stopped")
	return runErr
}

// newProber builds the metrics and the prober for o's CSI address.
func newProber(o Options) (*prober.Prober, string, *metrics.Metrics, error) {
	cfg := o.Config
	target, err := prober.Target(cfg.CSIAddress)
	if err != nil {
		return nil, "", nil, err
	}
	m := metrics.New(o.Version)
	p, err := prober.New(prober.Config{
		Target:        target,
		Timeout:       cfg.ProbeTimeout,
		Interval:      cfg.ProbeInterval,
		HealthzMaxAge: cfg.HealthzMaxAge,
		MaxBackoff:    o.MaxBackoff,
		Recorder:      m,
		Logger:        o.Logger.Named("prober"),
	})
	if err != nil {
		return nil, "", nil, err
	}
	return p, target, m, nil
}

// listen binds the HTTP server that serves the metrics and /healthz.
func listen(o Options, p *prober.Prober, m *metrics.Metrics) (*server.Server, error) {
	handler, err := server.NewHandler(server.Config{
		MetricsPath: o.Config.MetricsPath,
		Registry:    m.Registry(),
		Checker:     p,
		Logger:      o.Logger.Named("http"),
	})
	if err != nil {
		return nil, err
	}
	return server.Listen(o.Config.HTTPAddress, handler, o.Logger.Named("http"))
}

func logStarted(o Options, target string, addr net.Addr) {
	cfg := o.Config
	o.Logger.Info("CSI liveness probe started",
		zap.String("version", o.Version),
		zap.String("csiAddress", cfg.CSIAddress),
		zap.String("target", target),
		zap.Stringer("httpAddress", addr),
		zap.String("metricsPath", cfg.MetricsPath),
		zap.Duration("probeInterval", cfg.ProbeInterval),
		zap.Duration("probeTimeout", cfg.ProbeTimeout),
		zap.Duration("healthzMaxAge", cfg.HealthzMaxAge))
}

// serve runs the HTTP server until ctx ends or the server fails, then stops
// the probe loop and shuts the server down, waiting for in-flight requests.
func serve(ctx context.Context, o Options, srv *server.Server, stopLoop func()) error {
	log := o.Logger
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve() }()

	var runErr error
	served := false
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-serveErr:
		served = true
		if err == nil {
			err = errors.New("stopped unexpectedly")
		}
		runErr = fmt.Errorf("HTTP server: %w", err)
	}

	stopLoop()
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.Config.ProbeTimeout+shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Warn("HTTP server shutdown", zap.Error(err))
	}
	if !served {
		if err := <-serveErr; err != nil && runErr == nil {
			runErr = fmt.Errorf("HTTP server: %w", err)
		}
	}
	return runErr
}
