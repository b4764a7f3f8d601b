package csiserver

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

func TestServeMetrics(t *testing.T) {
	reg := NewRegistry()
	counter := prometheus.NewCounter(prometheus.CounterOpts{Name: "test_events_total", Help: "Test events."})
	reg.MustRegister(counter)
	counter.Add(3)

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveMetrics(ctx, lis, reg, zap.NewNop()) }()

	body := scrape(t, "http://"+lis.Addr().String()+MetricsPath)
	for _, want := range []string{"test_events_total 3", "go_goroutines", "process_"} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics page lacks %q", want)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serveMetrics returned %v after cancel, want nil", err)
		}
	case <-time.After(callTimeout):
		t.Fatal("metrics server did not stop")
	}
}

func TestServeMetricsBadAddress(t *testing.T) {
	err := ServeMetrics(context.Background(), "not-an-address", prometheus.NewRegistry(), zap.NewNop())
	if err == nil {
		t.Fatal("ServeMetrics accepted an invalid address")
	}
}

func TestServeMetricsStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeMetrics(ctx, "127.0.0.1:0", prometheus.NewRegistry(), zap.NewNop()) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("ServeMetrics returned %v after cancel, want nil", err)
		}
	case <-time.After(callTimeout):
		t.Fatal("ServeMetrics did not stop")
	}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	client := &http.Client{Timeout: callTimeout}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}
