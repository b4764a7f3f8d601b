package main

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

const testTimeout = 10 * time.Second

func TestVersion(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "default name", args: []string{"--version"}, want: defaultDriverName + " dev\n"},
		{name: "custom name", args: []string{"--version", "--driver-name=x.example.com"}, want: "x.example.com dev\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := run(context.Background(), tc.args, &out, io.Discard); err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.want {
				t.Fatalf("--version printed %q, want %q", out.String(), tc.want)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	var stderr bytes.Buffer
	if err := run(context.Background(), []string{"--help"}, io.Discard, &stderr); err != nil {
		t.Fatalf("--help: %v", err)
	}
	if !strings.Contains(stderr.String(), "-endpoint") {
		t.Fatalf("help output lacks the flags: %q", stderr.String())
	}
}

func TestInvalidArguments(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "missing node id", args: nil, wantErr: "--node-id"},
		{name: "bad mode", args: []string{"--mode=sideways"}, wantErr: "mode"},
		{name: "bad endpoint", args: []string{"--node-id=n1", "--endpoint=csi.sock"}, wantErr: "--endpoint"},
		{name: "unknown flag", args: []string{"--nope"}, wantErr: "nope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := run(context.Background(), tc.args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("run(%q) = %v, want error containing %q", tc.args, err, tc.wantErr)
			}
		})
	}
}

func TestParseErrorIsUsageError(t *testing.T) {
	err := run(context.Background(), []string{"--mode=sideways"}, io.Discard, io.Discard)
	if !errors.Is(err, errUsage) {
		t.Fatalf("run = %v, want a usage error", err)
	}
	err = run(context.Background(), nil, io.Discard, io.Discard)
	if err == nil || errors.Is(err, errUsage) {
		t.Fatalf("run without --node-id = %v, want a validation error that is not a usage error", err)
	}
}

func TestServesIdentity(t *testing.T) {
	tests := []struct {
		mode           string
		wantController bool
	}{
		{mode: "all", wantController: true},
		{mode: "controller", wantController: true},
		{mode: "node", wantController: false},
	}
	for _, tc := range tests {
		t.Run(tc.mode, func(t *testing.T) {
			socket := filepath.Join(t.TempDir(), "csi.sock")
			stop := startDriver(t, "--endpoint=unix://"+socket, "--mode="+tc.mode, "--node-id=n1", "--log-level=error")
			waitForSocket(t, socket)
			client := csi.NewIdentityClient(dial(t, socket))
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()

			info, err := client.GetPluginInfo(ctx, &csi.GetPluginInfoRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if info.GetName() != defaultDriverName || info.GetVendorVersion() != "dev" {
				t.Fatalf("GetPluginInfo = %v", info)
			}
			caps, err := client.GetPluginCapabilities(ctx, &csi.GetPluginCapabilitiesRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if got := hasControllerService(caps); got != tc.wantController {
				t.Fatalf("CONTROLLER_SERVICE announced = %v, want %v", got, tc.wantController)
			}

			stop()
			if _, err := os.Lstat(socket); !os.IsNotExist(err) {
				t.Fatalf("socket left behind after shutdown: %v", err)
			}
		})
	}
}

// startDriver runs the driver with args and returns a function that cancels
// it and checks that it exited cleanly.
func startDriver(t *testing.T, args ...string) (stop func()) {
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
		case <-time.After(testTimeout):
			t.Error("driver did not stop after cancel")
		}
	}
	t.Cleanup(stop)
	return stop
}

// waitForSocket waits until the driver created its socket, sparing the
// client the reconnect backoff that follows a failed first attempt.
func waitForSocket(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
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
