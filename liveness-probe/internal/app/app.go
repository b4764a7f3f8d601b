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
	cfg, log := o.Config, o.Logger
	if log == nil {
		log = zap.NewNop()
	}
	target, err := prober.Target(cfg.CSIAddress)
	if err != nil {
		return err
	}
	m := metrics.New(o.Version)
	p, err := prober.New(prober.Config{
		Target:        target,
		Timeout:       cfg.ProbeTimeout,
		Interval:      cfg.ProbeInterval,
		HealthzMaxAge: cfg.HealthzMaxAge,
		MaxBackoff:    o.MaxBackoff,
		Recorder:      m,
		Logger:        log.Named("prober"),
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := p.Close(); err != nil {
			log.Warn("closing gRPC connection", zap.Error(err))
		}
	}()

	handler, err := server.NewHandler(server.Config{
		MetricsPath: cfg.MetricsPath,
		Registry:    m.Registry(),
		Checker:     p,
		Logger:      log.Named("http"),
	})
	if err != nil {
		return err
	}
	srv, err := server.Listen(cfg.HTTPAddress, handler, log.Named("http"))
	if err != nil {
		return err
	}
	if o.OnListen != nil {
		o.OnListen(srv.Addr())
	}
	log.Info("CSI liveness probe started",
		zap.String("version", o.Version),
		zap.String("csiAddress", cfg.CSIAddress),
		zap.String("target", target),
		zap.Stringer("httpAddress", srv.Addr()),
		zap.String("metricsPath", cfg.MetricsPath),
		zap.Duration("probeInterval", cfg.ProbeInterval),
		zap.Duration("probeTimeout", cfg.ProbeTimeout),
		zap.Duration("healthzMaxAge", cfg.HealthzMaxAge))

	loopCtx, stopLoop := context.WithCancel(ctx)
	defer stopLoop()
	var loop sync.WaitGroup
	loop.Go(func() { p.Run(loopCtx) })

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
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ProbeTimeout+shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Warn("HTTP server shutdown", zap.Error(err))
	}
	if !served {
		if err := <-serveErr; err != nil && runErr == nil {
			runErr = fmt.Errorf("HTTP server: %w", err)
		}
	}
	loop.Wait()
	log.Info("stopped")
	return runErr
}
