// Package prober probes a CSI driver's Identity service: it reads the driver
// name with GetPluginInfo and calls Probe, either periodically (Run) or on
// demand (Probe, Check), and classifies failures into reasons.
//
// It uses a single lazily connecting gRPC client. gRPC itself reconnects with
// a short, bounded backoff, so a driver that restarts (its unix socket
// vanishing and being re-created) is re-dialed without restarting the prober.
package prober

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// UnknownDriver is the driver label used until GetPluginInfo succeeded.
const UnknownDriver = "unknown"

// DefaultMaxBackoff bounds gRPC's reconnect backoff. The driver is normally on
// a local unix socket, so reconnecting often is cheap and a restarted driver
// is noticed quickly.
const DefaultMaxBackoff = time.Second

// Recorder receives the outcome of every completed probe. reason is "" for a
// healthy driver, else one of the Reason values. at is the completion time.
type Recorder interface {
	RecordProbe(driver string, duration time.Duration, reason string, at time.Time)
}

// Config configures a Prober.
type Config struct {
	// Target is a gRPC target, as returned by Target.
	Target string
	// Timeout bounds one probe (GetPluginInfo + Probe). Required.
	Timeout time.Duration
	// Interval between background probes (Run). Required for Run.
	Interval time.Duration
	// HealthzMaxAge: Check answers from the last completed probe when it is
	// younger than this. 0 means Check always probes live.
	HealthzMaxAge time.Duration
	// MaxBackoff bounds the reconnect backoff; DefaultMaxBackoff if 0.
	MaxBackoff time.Duration
	// Recorder is told about every completed probe (optional).
	Recorder Recorder
	// Logger (optional, defaults to a no-op logger).
	Logger *zap.Logger
	// Now returns the current time (optional, defaults to time.Now). Used for
	// result timestamps and the HealthzMaxAge decision.
	Now func() time.Time
}

// Result is the outcome of one probe.
type Result struct {
	// Driver is the driver name from GetPluginInfo, "" while unknown.
	Driver string
	// Reason is ReasonNone when the driver answered and is ready.
	Reason Reason
	// Err is the RPC error, if any.
	Err error
	// Time is when the probe completed (from Config.Now).
	Time time.Time
	// Duration is how long the probe took.
	Duration time.Duration
}

// Healthy reports whether the probe succeeded and the driver is ready.
func (r Result) Healthy() bool { return r.Reason == ReasonNone }

// DriverLabel is the driver name, or UnknownDriver.
func (r Result) DriverLabel() string {
	if r.Driver == "" {
		return UnknownDriver
	}
	return r.Driver
}

// Message is a one-line human readable description, e.g. for /healthz.
func (r Result) Message() string {
	switch r.Reason {
	case ReasonNone:
		return fmt.Sprintf("ok: driver %q is ready", r.DriverLabel())
	case ReasonNotReady:
		if r.Err != nil {
			return fmt.Sprintf("not_ready: driver %q is not ready: %v", r.DriverLabel(), r.Err)
		}
		return fmt.Sprintf("not_ready: driver %q reported ready=false", r.DriverLabel())
	default:
		return fmt.Sprintf("%s: probing driver %q failed: %v", r.Reason, r.DriverLabel(), r.Err)
	}
}

// Prober probes one CSI endpoint. It is safe for concurrent use.
type Prober struct {
	cfg    Config
	log    *zap.Logger
	now    func() time.Time
	conn   *grpc.ClientConn
	client csi.IdentityClient

	mu          sync.Mutex
	driver      string // last name from GetPluginInfo
	refreshName bool   // re-read the name on the next probe
	last        Result
	haveLast    bool
}

// New creates a Prober. It does not connect: the gRPC client connects lazily
// on the first probe and reconnects on its own afterwards, so New only fails
// on an invalid configuration.
func New(cfg Config) (*Prober, error) {
	if cfg.Target == "" {
		return nil, errors.New("prober: empty target")
	}
	if cfg.Timeout <= 0 {
		return nil, errors.New("prober: timeout must be positive")
	}
	if cfg.HealthzMaxAge < 0 {
		return nil, errors.New("prober: healthz max age must not be negative")
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	bo := backoff.DefaultConfig
	bo.BaseDelay = min(100*time.Millisecond, cfg.MaxBackoff)
	bo.MaxDelay = cfg.MaxBackoff
	conn, err := grpc.NewClient(cfg.Target,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: bo,
			// How long one connection attempt may take. A listener that
			// accepts but never speaks HTTP/2 fails the attempt after this.
			MinConnectTimeout: cfg.Timeout,
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("prober: creating gRPC client for %q: %w", cfg.Target, err)
	}
	return &Prober{
		cfg:    cfg,
		log:    cfg.Logger,
		now:    cfg.Now,
		conn:   conn,
		client: csi.NewIdentityClient(conn),
	}, nil
}

// Close closes the gRPC connection.
func (p *Prober) Close() error { return p.conn.Close() }

// Run probes immediately and then every Config.Interval until ctx is done.
func (p *Prober) Run(ctx context.Context) {
	if p.cfg.Interval <= 0 {
		p.log.Error("prober: interval must be positive; background probing disabled")
		return
	}
	ticker := time.NewTicker(p.cfg.Interval)
	defer ticker.Stop()
	for {
		p.Probe(ctx)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// Check is the /healthz decision: the last result if it is younger than
// Config.HealthzMaxAge, else a live probe.
func (p *Prober) Check(ctx context.Context) Result {
	if p.cfg.HealthzMaxAge > 0 {
		if last, ok := p.Last(); ok && p.now().Sub(last.Time) < p.cfg.HealthzMaxAge {
			return last
		}
	}
	return p.Probe(ctx)
}

// Last returns the most recent completed probe result, if any.
func (p *Prober) Last() (Result, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last, p.haveLast
}

// Probe probes the driver once, bounded by Config.Timeout, records the
// result and returns it. If ctx itself ends first (the caller went away or
// the prober is shutting down), the result is returned but not recorded.
func (p *Prober) Probe(ctx context.Context) Result {
	start := time.Now()
	pctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()

	driver, err := p.driverName(pctx)
	reason := Classify(err)
	if err == nil {
		resp, perr := p.client.Probe(pctx, &csi.ProbeRequest{})
		err, reason = perr, Classify(perr)
		switch {
		case perr == nil && resp.GetReady() != nil && !resp.GetReady().GetValue():
			// An unset ready field means ready (CSI spec).
			reason = ReasonNotReady
		case status.Code(perr) == codes.FailedPrecondition:
			// CSI spec: Probe answers FAILED_PRECONDITION when the
			// plugin is not healthy/ready, i.e. the same as ready=false.
			reason = ReasonNotReady
		}
	}

	res := Result{Driver: driver, Reason: reason, Err: err, Time: p.now(), Duration: time.Since(start)}
	if ctx.Err() != nil {
		// Not the driver's fault: the caller gave up.
		return res
	}
	p.record(res)
	return res
}

// driverName returns the known driver name, calling GetPluginInfo first if it
// is not known yet or the previous probe failed (the driver may have been
// replaced). A GetPluginInfo error fails the probe.
func (p *Prober) driverName(ctx context.Context) (string, error) {
	p.mu.Lock()
	name, refresh := p.driver, p.refreshName || p.driver == ""
	p.mu.Unlock()
	if !refresh {
		return name, nil
	}
	info, err := p.client.GetPluginInfo(ctx, &csi.GetPluginInfoRequest{})
	if err != nil {
		return name, err
	}
	newName := info.GetName()
	p.mu.Lock()
	defer p.mu.Unlock()
	if newName == "" {
		// Invalid per the CSI spec; keep probing, try again next time.
		p.log.Warn("driver returned an empty name from GetPluginInfo")
		return p.driver, nil
	}
	if newName != p.driver {
		p.log.Info("CSI driver identified",
			zap.String("driver", newName),
			zap.String("previous", p.driver),
			zap.String("vendorVersion", info.GetVendorVersion()))
	}
	p.driver = newName
	p.refreshName = false
	return newName, nil
}

func (p *Prober) record(res Result) {
	p.mu.Lock()
	prev, hadPrev := p.last, p.haveLast
	stale := hadPrev && res.Time.Before(prev.Time)
	if !stale {
		p.last, p.haveLast = res, true
	}
	if !res.Healthy() {
		p.refreshName = true
	}
	p.mu.Unlock()

	if p.cfg.Recorder != nil {
		p.cfg.Recorder.RecordProbe(res.DriverLabel(), res.Duration, string(res.Reason), res.Time)
	}

	fields := []zap.Field{
		zap.String("driver", res.DriverLabel()),
		zap.Duration("duration", res.Duration),
	}
	if res.Err != nil {
		fields = append(fields, zap.Error(res.Err))
	}
	switch {
	case stale:
		p.log.Debug("probe result superseded by a newer one", fields...)
	case hadPrev && prev.Reason == res.Reason:
		p.log.Debug("probe", append(fields, zap.String("reason", string(res.Reason)))...)
	case res.Healthy():
		p.log.Info("CSI driver is healthy", fields...)
	default:
		p.log.Warn("CSI driver is not healthy", append(fields, zap.String("reason", string(res.Reason)))...)
	}
}
