package csiserver

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"
)

func TestRunAllStopsOthersOnError(t *testing.T) {
	boom := errors.New("boom")
	err := RunAll(context.Background(),
		func(context.Context) error { return boom },
		func(ctx context.Context) error { <-ctx.Done(); return nil },
	)
	if !errors.Is(err, boom) {
		t.Fatalf("RunAll = %v, want %v", err, boom)
	}
}

func TestRunAllStopsOnContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- RunAll(ctx,
			func(ctx context.Context) error { <-ctx.Done(); return nil },
			func(ctx context.Context) error { <-ctx.Done(); return nil },
		)
	}()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("RunAll = %v, want nil", err)
		}
	case <-time.After(callTimeout):
		t.Fatal("RunAll did not return after cancel")
	}
}

func TestRunAllNothing(t *testing.T) {
	if err := RunAll(context.Background()); err != nil {
		t.Fatalf("RunAll() = %v", err)
	}
}

func TestSignalContext(t *testing.T) {
	ctx, stop := SignalContext(context.Background())
	defer stop()
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(callTimeout):
		t.Fatal("context not cancelled by SIGTERM")
	}
}
