// Package cmdtest is the one test suite of the command-line conventions both
// drivers share (shared/cliflags): --version, --help, invalid arguments,
// and the Identity service served in each --mode over a real unix socket.
// Each driver's cmd package runs it against its own run function.
package cmdtest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Timeout bounds each wait of the suite.
const Timeout = 10 * time.Second

// RunFunc is a driver command's run(ctx, args, stdout, stderr).
type RunFunc func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// Command describes the driver command under test.
type Command struct {
	// Run is the command's run function.
	Run RunFunc
	// DefaultDriverName is the name served without --driver-name.
	DefaultDriverName string
	// UsageError is the sentinel run wraps command-line errors in.
	UsageError error
}

// Run runs the whole suite against c.
func Run(t *testing.T, c Command) {
	t.Run("Version", func(t *testing.T) { testVersion(t, c) })
	t.Run("Help", func(t *testing.T) { testHelp(t, c) })
	t.Run("InvalidArguments", func(t *testing.T) { testInvalidArguments(t, c) })
	t.Run("ParseErrorIsUsageError", func(t *testing.T) { testUsageError(t, c) })
	t.Run("ServesIdentity", func(t *testing.T) { testServesIdentity(t, c) })
}

func testVersion(t *testing.T, c Command) {
	tests := []struct {
		args  []string
		first string
	}{
		{args: []string{"--version"}, first: c.DefaultDriverName + " dev\n"},
		{args: []string{"--version", "--driver-name=x.example.com"}, first: "x.example.com dev\n"},
	}
	for _, tc := range tests {
		var out bytes.Buffer
		if err := c.Run(context.Background(), tc.args, &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		got := out.String()
		if !strings.HasPrefix(got, tc.first) {
			t.Fatalf("%q printed %q, want it to start with %q", tc.args, got, tc.first)
		}
		for _, key := range []string{"\ncommit: ", "\ngo-ceph: v", "\nceph: ", "\ngo: go"} {
			if !strings.Contains(got, key) {
				t.Fatalf("%q printed %q, want a line %q", tc.args, got, strings.TrimPrefix(key, "\n"))
			}
		}
	}
}

func testHelp(t *testing.T, c Command) {
	var stderr bytes.Buffer
	if err := c.Run(context.Background(), []string{"--help"}, io.Discard, &stderr); err != nil {
		t.Fatalf("--help: %v", err)
	}
	if !strings.Contains(stderr.String(), "-endpoint") {
		t.Fatalf("help output lacks the flags: %q", stderr.String())
	}
}

func testInvalidArguments(t *testing.T, c Command) {
	tests := []struct {
		args    []string
		wantErr string
	}{
		{args: nil, wantErr: "--node-id"},
		{args: []string{"--mode=sideways"}, wantErr: "mode"},
		{args: []string{"--node-id=n1", "--endpoint=csi.sock"}, wantErr: "--endpoint"},
		{args: []string{"--nope"}, wantErr: "nope"},
	}
	for _, tc := range tests {
		err := c.Run(context.Background(), tc.args, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("run(%q) = %v, want error containing %q", tc.args, err, tc.wantErr)
		}
	}
}

func testUsageError(t *testing.T, c Command) {
	err := c.Run(context.Background(), []string{"--mode=sideways"}, io.Discard, io.Discard)
	if !errors.Is(err, c.UsageError) {
		t.Fatalf("run = %v, want a usage error", err)
	}
	err = c.Run(context.Background(), nil, io.Discard, io.Discard)
	if err == nil || errors.Is(err, c.UsageError) {
		t.Fatalf("run without --node-id = %v, want a validation error that is not a usage error", err)
	}
}

func testServesIdentity(t *testing.T, c Command) {
	for mode, wantController := range map[string]bool{"all": true, "controller": true, "node": false} {
		t.Run(mode, func(t *testing.T) {
			socket := filepath.Join(t.TempDir(), "csi.sock")
			stop := Start(t, c.Run, "--endpoint=unix://"+socket, "--mode="+mode, "--node-id=n1", "--log-level=error")
			WaitForSocket(t, socket)
			client := csi.NewIdentityClient(Dial(t, socket))
			ctx, cancel := context.WithTimeout(context.Background(), Timeout)
			defer cancel()
			info, err := client.GetPluginInfo(ctx, &csi.GetPluginInfoRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if info.GetName() != c.DefaultDriverName || info.GetVendorVersion() != "dev" {
				t.Fatalf("GetPluginInfo = %v", info)
			}
			caps, err := client.GetPluginCapabilities(ctx, &csi.GetPluginCapabilitiesRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if got := hasControllerService(caps); got != wantController {
				t.Fatalf("CONTROLLER_SERVICE announced = %v, want %v", got, wantController)
			}
			stop()
			if _, err := os.Lstat(socket); !os.IsNotExist(err) {
				t.Fatalf("socket left behind after shutdown: %v", err)
			}
		})
	}
}

// Start runs run with args in the background and returns a function that
// cancels it and checks that it exited cleanly (also registered as cleanup).
func Start(t *testing.T, run RunFunc, args ...string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, io.Discard, io.Discard) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run returned %v after cancel, want nil", err)
			}
		case <-time.After(Timeout):
			t.Error("driver did not stop after cancel")
		}
	}
	t.Cleanup(stop)
	return stop
}

// WaitForSocket waits until a unix socket exists at path.
func WaitForSocket(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for time.Now().Before(deadline) {
		if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("socket %s did not appear", path)
}

// Dial returns a client connection to the unix socket, closed at cleanup.
func Dial(t *testing.T, socket string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+socket,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.WaitForReady(true)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func hasControllerService(resp *csi.GetPluginCapabilitiesResponse) bool {
	for _, c := range resp.GetCapabilities() {
		if c.GetService().GetType() == csi.PluginCapability_Service_CONTROLLER_SERVICE {
			return true
		}
	}
	return false
}
