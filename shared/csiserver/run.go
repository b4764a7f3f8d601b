package csiserver

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
)

// SignalContext returns a copy of parent that is cancelled on SIGTERM or
// SIGINT, and the function that stops listening for those signals.
func SignalContext(parent context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(parent, syscall.SIGTERM, os.Interrupt)
}

// RunAll runs each fn concurrently with a context derived from ctx. When one
// returns an error, or ctx ends, the context of the others is cancelled.
// RunAll waits for all of them and returns their errors joined.
func RunAll(ctx context.Context, fns ...func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errCh := make(chan error, len(fns))
	for _, fn := range fns {
		go func() {
			err := fn(ctx)
			if err != nil {
				cancel()
			}
			errCh <- err
		}()
	}
	errs := make([]error, 0, len(fns))
	for range fns {
		errs = append(errs, <-errCh)
	}
	return errors.Join(errs...)
}

// ServeWithMetrics serves cfg's CSI services until ctx ends and, when
// metricsAddress is not empty, the Prometheus metrics of their RPCs on that
// address. A nil cfg.Registry gets a fresh one (NewRegistry); another must
// be a *prometheus.Registry. It is the
// serving loop of both drivers' binaries.
func ServeWithMetrics(ctx context.Context, cfg Config, metricsAddress string) error {
	registry := NewRegistry()
	if r, ok := cfg.Registry.(*prometheus.Registry); ok {
		registry = r
	} else if cfg.Registry != nil {
		return errors.New("csiserver: ServeWithMetrics needs a *prometheus.Registry to gather from")
	}
	cfg.Registry = registry
	srv, err := New(cfg)
	if err != nil {
		return err
	}
	tasks := []func(context.Context) error{srv.Run}
	if metricsAddress != "" {
		tasks = append(tasks, func(ctx context.Context) error {
			return ServeMetrics(ctx, metricsAddress, registry, cfg.Logger)
		})
	}
	return RunAll(ctx, tasks...)
}
