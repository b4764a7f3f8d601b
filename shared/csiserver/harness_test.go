package csiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/seed-6a310834/ceph-csi/shared/identity"
	"github.com/seed-6a310834/ceph-csi/shared/logging"
)

const (
	testDriver  = "test.csi.ceph.com"
	callTimeout = 10 * time.Second
)

// syncBuffer is a bytes.Buffer safe for concurrent writes and reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Sync() error { return nil }

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// entries decodes the JSON log lines written so far.
func (b *syncBuffer) entries(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		out = append(out, entry)
	}
	return out
}

// fakeController is a Controller service whose CreateVolume and DeleteVolume
// run the given functions.
type fakeController struct {
	csi.UnimplementedControllerServer
	create func(context.Context, *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error)
	delete func(context.Context, *csi.DeleteVolumeRequest) (*csi.DeleteVolumeResponse, error)
}

func (f *fakeController) CreateVolume(ctx context.Context, req *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
	return f.create(ctx, req)
}

func (f *fakeController) DeleteVolume(ctx context.Context, req *csi.DeleteVolumeRequest) (*csi.DeleteVolumeResponse, error) {
	return f.delete(ctx, req)
}

// harness runs a Server on a unix socket in a temporary directory.
type harness struct {
	socket   string
	logs     *syncBuffer
	registry *prometheus.Registry
	conn     *grpc.ClientConn
	cancel   context.CancelFunc
	done     chan error
}

type harnessOptions struct {
	probe       func(context.Context) error
	controller  csi.ControllerServer
	stopTimeout time.Duration
}

func startHarness(t *testing.T, opts harnessOptions) *harness {
	t.Helper()
	h := &harness{
		socket:   filepath.Join(t.TempDir(), "csi.sock"),
		logs:     &syncBuffer{},
		registry: prometheus.NewRegistry(),
		done:     make(chan error, 1),
	}
	srv := newTestServer(t, h, opts)
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- srv.Run(ctx) }()
	waitForSocket(t, h.socket)
	h.conn = dial(t, h.socket)
	t.Cleanup(func() {
		h.conn.Close()
		h.stop(t)
	})
	return h
}

func newTestServer(t *testing.T, h *harness, opts harnessOptions) *Server {
	t.Helper()
	logger, err := logging.New(logging.FormatJSON, zapcore.DebugLevel, h.logs)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := identity.New(identity.Config{Name: testDriver, Version: "v0.1", Probe: opts.probe})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{
		Endpoint:            "unix://" + h.socket,
		Logger:              logger,
		Registry:            h.registry,
		DriverName:          testDriver,
		GracefulStopTimeout: opts.stopTimeout,
		Identity:            ids,
		Controller:          opts.controller,
	})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// waitForSocket waits until the server created its socket, sparing the
// client the reconnect backoff that follows a failed first attempt.
func waitForSocket(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(callTimeout)
	for time.Now().Before(deadline) {
		if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("socket %s did not appear", path)
}

func dial(t *testing.T, socket string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+socket,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.WaitForReady(true)))
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// stop cancels the server's context and waits for Run to return.
// It is safe to call more than once.
func (h *harness) stop(t *testing.T) error {
	t.Helper()
	h.cancel()
	select {
	case err, ok := <-h.done:
		if ok {
			close(h.done)
		}
		return err
	case <-time.After(callTimeout):
		t.Fatal("server did not stop")
		return nil
	}
}

func (h *harness) identity() csi.IdentityClient     { return csi.NewIdentityClient(h.conn) }
func (h *harness) controller() csi.ControllerClient { return csi.NewControllerClient(h.conn) }

func callContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	t.Cleanup(cancel)
	return ctx
}
