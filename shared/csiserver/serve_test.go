package csiserver

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/seed-6a310834/ceph-csi/shared/identity"
)

func serveConfig(t *testing.T) (Config, string) {
	t.Helper()
	ids, err := identity.New(identity.Config{Name: testDriver, Version: "v0.1"})
	if err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(t.TempDir(), "csi.sock")
	return Config{Endpoint: "unix://" + socket, DriverName: testDriver, Identity: ids}, socket
}

// TestServeWithMetricsServesUntilCancelled: the CSI services answer, and
// cancelling the context ends the serving without an error.
func TestServeWithMetricsServesUntilCancelled(t *testing.T) {
	cfg, socket := serveConfig(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeWithMetrics(ctx, cfg, "") }()
	waitForSocket(t, socket)
	conn := dial(t, socket)
	defer conn.Close()
	info, err := csi.NewIdentityClient(conn).GetPluginInfo(context.Background(), &csi.GetPluginInfoRequest{})
	if err != nil || info.GetName() != testDriver {
		t.Fatalf("GetPluginInfo = %v, %v", info, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ServeWithMetrics after cancel = %v", err)
	}
}

// TestServeWithMetricsBadMetricsAddress: a metrics listener that cannot
// start stops the CSI server too, and the error names the problem.
func TestServeWithMetricsBadMetricsAddress(t *testing.T) {
	cfg, _ := serveConfig(t)
	err := ServeWithMetrics(context.Background(), cfg, "256.1.1.1:bad")
	if err == nil {
		t.Fatal("ServeWithMetrics with a bad metrics address returned nil")
	}
}

// TestServeWithMetricsRegistryType: a Registerer that cannot be gathered
// from is refused before anything listens.
func TestServeWithMetricsRegistryType(t *testing.T) {
	cfg, _ := serveConfig(t)
	cfg.Registry = prometheus.WrapRegistererWithPrefix("x_", prometheus.NewRegistry())
	err := ServeWithMetrics(context.Background(), cfg, "")
	if err == nil || !strings.Contains(err.Error(), "*prometheus.Registry") {
		t.Fatalf("ServeWithMetrics with a wrapped registerer = %v", err)
	}
}
