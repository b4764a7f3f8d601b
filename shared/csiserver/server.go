// Package csiserver runs the CSI gRPC services of a driver: it parses CSI
// endpoints, listens on them, and wraps every call in one interceptor chain
// that adds a request-scoped logger, logs requests with secrets stripped,
// records Prometheus metrics, answers DeadlineExceeded shortly before the
// caller's deadline for a handler still blocked in the backend, and turns
// handler panics into Internal errors. It also serves the metrics over
// HTTP and stops cleanly on SIGTERM.
package csiserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/grpc"
)

// DefaultGracefulStopTimeout is how long Run waits for calls in progress to
// finish after its context ends before it cancels them.
const DefaultGracefulStopTimeout = 30 * time.Second

// Config holds what New needs to build a Server.
type Config struct {
	// Endpoint is where Run listens: unix:///path or tcp://host:port.
	Endpoint string
	// Logger is the base logger; per-request loggers derive from it.
	// Nil disables logging.
	Logger *zap.Logger
	// Registry receives the RPC metrics. Nil leaves them unregistered.
	Registry prometheus.Registerer
	// DriverName labels the RPC metrics. Required.
	DriverName string
	// GracefulStopTimeout overrides DefaultGracefulStopTimeout when positive.
	GracefulStopTimeout time.Duration

	// Identity serves the CSI Identity service. Required.
	Identity csi.IdentityServer
	// Controller serves the CSI Controller service; nil when not served.
	Controller csi.ControllerServer
	// Node serves the CSI Node service; nil when not served.
	Node csi.NodeServer
	// GroupController serves the CSI GroupController service; nil when not served.
	GroupController csi.GroupControllerServer
}

// Server serves the CSI services of one driver on one endpoint.
// A Server serves once: after Run or Serve returns it cannot be restarted.
type Server struct {
	endpoint    string
	logger      *zap.Logger
	stopTimeout time.Duration
	grpc        *grpc.Server
}

// New validates cfg, registers the RPC metrics and returns a Server with
// the non-nil services of cfg registered.
func New(cfg Config) (*Server, error) {
	if err := validate(cfg); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = zap.NewNop()
	}
	metrics, err := newRPCMetrics(cfg.Registry, cfg.DriverName)
	if err != nil {
		return nil, err
	}
	gs := grpc.NewServer(grpc.ChainUnaryInterceptor(interceptors(logger, metrics)...))
	registerServices(gs, cfg)
	return &Server{
		endpoint:    cfg.Endpoint,
		logger:      logger,
		stopTimeout: stopTimeout(cfg.GracefulStopTimeout),
		grpc:        gs,
	}, nil
}

func validate(cfg Config) error {
	if cfg.DriverName == "" {
		return errors.New("csiserver: driver name is required")
	}
	if cfg.Identity == nil {
		return errors.New("csiserver: an Identity service is required")
	}
	if _, _, err := ParseEndpoint(cfg.Endpoint); err != nil {
		return fmt.Errorf("csiserver: %w", err)
	}
	return nil
}

func stopTimeout(d time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return DefaultGracefulStopTimeout
}

func registerServices(gs *grpc.Server, cfg Config) {
	csi.RegisterIdentityServer(gs, cfg.Identity)
	if cfg.Controller != nil {
		csi.RegisterControllerServer(gs, cfg.Controller)
	}
	if cfg.Node != nil {
		csi.RegisterNodeServer(gs, cfg.Node)
	}
	if cfg.GroupController != nil {
		csi.RegisterGroupControllerServer(gs, cfg.GroupController)
	}
}

// Run listens on the configured endpoint (see Listen) and serves until ctx
// ends, then stops as Serve does and removes the unix socket. It returns nil
// after a shutdown caused by ctx.
func (s *Server) Run(ctx context.Context) error {
	lis, err := Listen(s.endpoint)
	if err != nil {
		return err
	}
	serveErr := s.Serve(ctx, lis)
	return errors.Join(serveErr, s.cleanup(lis))
}

func (s *Server) cleanup(lis net.Listener) error {
	if addr, ok := lis.Addr().(*net.UnixAddr); ok {
		return removeSocket(addr.Name)
	}
	return nil
}

// Serve serves on lis until ctx ends or serving fails. When ctx ends it stops
// accepting calls and waits up to the graceful stop timeout for calls in
// progress before cancelling them. It returns nil after a shutdown caused by
// ctx. Serve closes lis.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	errCh := make(chan error, 1)
	go func() { errCh <- s.grpc.Serve(lis) }()
	s.logger.Info("serving CSI", zap.String("address", lis.Addr().String()))

	select {
	case err := <-errCh:
		return fmt.Errorf("serve CSI: %w", err)
	case <-ctx.Done():
	}
	s.logger.Info("stopping CSI server", zap.Duration("timeout", s.stopTimeout))
	s.stop()
	<-errCh
	s.logger.Info("CSI server stopped")
	return nil
}

// stop stops the gRPC server gracefully, falling back to a hard stop after
// the timeout.
func (s *Server) stop() {
	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(done)
	}()
	timer := time.NewTimer(s.stopTimeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		s.logger.Warn("graceful stop timed out, cancelling calls in progress")
		s.grpc.Stop()
		<-done
	}
}
