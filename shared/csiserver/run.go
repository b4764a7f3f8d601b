package csiserver

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
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
