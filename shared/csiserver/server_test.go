package csiserver

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/shared/identity"
)

func TestNewValidatesConfig(t *testing.T) {
	ids, err := identity.New(identity.Config{Name: testDriver, Version: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	valid := Config{Endpoint: "unix:///tmp/x.sock", DriverName: testDriver, Identity: ids}
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{name: "valid", mutate: func(*Config) {}},
		{name: "no driver name", mutate: func(c *Config) { c.DriverName = "" }, wantErr: "driver name"},
		{name: "no identity", mutate: func(c *Config) { c.Identity = nil }, wantErr: "Identity"},
		{name: "bad endpoint", mutate: func(c *Config) { c.Endpoint = "unix://rel.sock" }, wantErr: "absolute"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid
			tc.mutate(&cfg)
			_, err := New(cfg)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestNewSharesRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	ids, err := identity.New(identity.Config{Name: testDriver, Version: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, driver := range []string{"a.csi.ceph.com", "b.csi.ceph.com", "a.csi.ceph.com"} {
		cfg := Config{Endpoint: "unix:///tmp/x.sock", DriverName: driver, Identity: ids, Registry: reg}
		if _, err := New(cfg); err != nil {
			t.Fatalf("New for %s on a shared registry: %v", driver, err)
		}
	}
}

func TestIdentityOverUnixSocket(t *testing.T) {
	h := startHarness(t, harnessOptions{})
	resp, err := h.identity().GetPluginInfo(callContext(t), &csi.GetPluginInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetName() != testDriver || resp.GetVendorVersion() != "v0.1" {
		t.Fatalf("GetPluginInfo = %v", resp)
	}
	probe, err := h.identity().Probe(callContext(t), &csi.ProbeRequest{})
	if err != nil || !probe.GetReady().GetValue() {
		t.Fatalf("Probe = %v, %v; want ready", probe, err)
	}
}

func TestUnservedServiceIsUnimplemented(t *testing.T) {
	h := startHarness(t, harnessOptions{})
	_, err := h.controller().CreateVolume(callContext(t), &csi.CreateVolumeRequest{Name: "pvc-1"})
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("CreateVolume without a Controller service: %v, want Unimplemented", err)
	}
}

func TestPanicBecomesInternal(t *testing.T) {
	h := startHarness(t, harnessOptions{probe: func(context.Context) error {
		panic("boom: secret-stack-detail")
	}})

	_, err := h.identity().Probe(callContext(t), &csi.ProbeRequest{})
	st := status.Convert(err)
	if st.Code() != codes.Internal || st.Message() != internalErrorMessage {
		t.Fatalf("Probe after panic = %v, want Internal %q", err, internalErrorMessage)
	}
	if strings.Contains(st.Message(), "boom") {
		t.Fatalf("panic value leaked to the client: %v", err)
	}

	if _, err := h.identity().GetPluginInfo(callContext(t), &csi.GetPluginInfoRequest{}); err != nil {
		t.Fatalf("server stopped serving after a panic: %v", err)
	}

	panicEntry := findEntry(t, h.logs.entries(t), "handler panicked")
	if !strings.Contains(panicEntry["panic"].(string), "boom") {
		t.Errorf("panic value not logged: %v", panicEntry)
	}
	if !strings.Contains(panicEntry["stack"].(string), "recoveryInterceptor") {
		t.Errorf("stack not logged: %v", panicEntry)
	}
}

func TestMetrics(t *testing.T) {
	ctrl := &fakeController{
		create: func(context.Context, *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
			return nil, status.Error(codes.Aborted, "operation pending")
		},
		delete: func(context.Context, *csi.DeleteVolumeRequest) (*csi.DeleteVolumeResponse, error) {
			return nil, errors.New("not a status error")
		},
	}
	h := startHarness(t, harnessOptions{controller: ctrl})
	for range 2 {
		if _, err := h.identity().GetPluginInfo(callContext(t), &csi.GetPluginInfoRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	_, _ = h.controller().CreateVolume(callContext(t), &csi.CreateVolumeRequest{Name: "pvc-1"})
	_, err := h.controller().DeleteVolume(callContext(t), &csi.DeleteVolumeRequest{VolumeId: "v1"})
	if status.Code(err) != codes.Unknown || !strings.Contains(err.Error(), "not a status error") {
		t.Fatalf("DeleteVolume = %v, want the handler's error passed through as Unknown", err)
	}

	const want = `
# HELP csi_rpc_requests_total CSI gRPC requests handled, by driver, full method name and gRPC status code.
# TYPE csi_rpc_requests_total counter
csi_rpc_requests_total{code="Aborted",driver="test.csi.ceph.com",method="/csi.v1.Controller/CreateVolume"} 1
csi_rpc_requests_total{code="OK",driver="test.csi.ceph.com",method="/csi.v1.Identity/GetPluginInfo"} 2
csi_rpc_requests_total{code="Unknown",driver="test.csi.ceph.com",method="/csi.v1.Controller/DeleteVolume"} 1
`
	if err := testutil.GatherAndCompare(h.registry, strings.NewReader(want), MetricRequestsTotal); err != nil {
		t.Fatal(err)
	}
	if n := histogramCount(t, h.registry, "/csi.v1.Identity/GetPluginInfo"); n != 2 {
		t.Fatalf("duration histogram count = %d, want 2", n)
	}
	if got := inFlight(t, h.registry, "/csi.v1.Identity/GetPluginInfo"); got != 0 {
		t.Fatalf("in-flight gauge = %v after calls finished, want 0", got)
	}
}

func TestInFlightGauge(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	ctrl := &fakeController{create: func(context.Context, *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
		close(started)
		<-release
		return &csi.CreateVolumeResponse{}, nil
	}}
	h := startHarness(t, harnessOptions{controller: ctrl})
	callDone := make(chan error, 1)
	go func() {
		_, err := h.controller().CreateVolume(callContext(t), &csi.CreateVolumeRequest{Name: "pvc-1"})
		callDone <- err
	}()
	<-started
	if got := inFlight(t, h.registry, "/csi.v1.Controller/CreateVolume"); got != 1 {
		t.Fatalf("in-flight gauge = %v during the call, want 1", got)
	}
	close(release)
	if err := <-callDone; err != nil {
		t.Fatal(err)
	}
	if got := inFlight(t, h.registry, "/csi.v1.Controller/CreateVolume"); got != 0 {
		t.Fatalf("in-flight gauge = %v after the call, want 0", got)
	}
}

func TestLogsStripSecrets(t *testing.T) {
	const secret = "AQBsupersecretkey=="
	ctrl := &fakeController{create: func(ctx context.Context, req *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
		return &csi.CreateVolumeResponse{Volume: &csi.Volume{VolumeId: "vol-" + req.GetName()}}, nil
	}}
	h := startHarness(t, harnessOptions{controller: ctrl})
	req := &csi.CreateVolumeRequest{
		Name:    "pvc-4242",
		Secrets: map[string]string{"userID": "admin", "userKey": secret},
	}
	if _, err := h.controller().CreateVolume(callContext(t), req); err != nil {
		t.Fatal(err)
	}
	if err := h.stop(t); err != nil {
		t.Fatal(err)
	}

	out := h.logs.String()
	if strings.Contains(out, secret) {
		t.Fatalf("secret leaked into the logs:\n%s", out)
	}
	entries := h.logs.entries(t)
	reqEntry := findEntry(t, entries, "request")
	if !strings.Contains(reqEntry["request"].(string), "pvc-4242") {
		t.Errorf("request entry lacks the volume name: %v", reqEntry)
	}
	if !strings.Contains(reqEntry["request"].(string), "***stripped***") {
		t.Errorf("request entry does not show stripped secrets: %v", reqEntry)
	}
	outcome := findEntry(t, entries, "request succeeded")
	if outcome["level"] != "info" || outcome["code"] != "OK" || outcome["duration"] == nil {
		t.Errorf("outcome entry = %v, want info level with code and duration", outcome)
	}
	assertRequestFields(t, reqEntry, outcome, findEntry(t, entries, "response"))
}

// assertRequestFields checks that all entries of one call carry the same
// non-empty req_id and the CreateVolume method.
func assertRequestFields(t *testing.T, entries ...map[string]any) {
	t.Helper()
	reqID, _ := entries[0]["req_id"].(string)
	if reqID == "" {
		t.Fatalf("entry has no req_id: %v", entries[0])
	}
	for _, e := range entries {
		if e["req_id"] != reqID || e["method"] != "/csi.v1.Controller/CreateVolume" {
			t.Errorf("entry %v: want req_id %q and the CreateVolume method", e, reqID)
		}
	}
}

func TestRequestIDsDiffer(t *testing.T) {
	h := startHarness(t, harnessOptions{})
	for range 2 {
		if _, err := h.identity().GetPluginInfo(callContext(t), &csi.GetPluginInfoRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	ids := map[any]bool{}
	for _, e := range h.logs.entries(t) {
		if e["msg"] == "request" {
			ids[e["req_id"]] = true
		}
	}
	if len(ids) != 2 {
		t.Fatalf("got request IDs %v, want 2 distinct", ids)
	}
}

func TestIdentityOutcomeAtDebugErrorsWithCode(t *testing.T) {
	h := startHarness(t, harnessOptions{probe: func(context.Context) error { return errors.New("mons down") }})
	if _, err := h.identity().GetPluginInfo(callContext(t), &csi.GetPluginInfoRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.identity().Probe(callContext(t), &csi.ProbeRequest{}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("Probe = %v, want FailedPrecondition", err)
	}
	entries := h.logs.entries(t)
	if ok := findEntry(t, entries, "request succeeded"); ok["level"] != "debug" {
		t.Errorf("identity success logged at %v, want debug", ok["level"])
	}
	failed := findEntry(t, entries, "request failed")
	if failed["code"] != "FailedPrecondition" || failed["level"] != "warn" || !strings.Contains(failed["error"].(string), "mons down") {
		t.Errorf("failure entry = %v, want warn with code and error", failed)
	}
}

func TestGracefulStopWaitsForCalls(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	ctrl := &fakeController{create: func(context.Context, *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
		close(started)
		<-release
		return &csi.CreateVolumeResponse{Volume: &csi.Volume{VolumeId: "v1"}}, nil
	}}
	h := startHarness(t, harnessOptions{controller: ctrl, stopTimeout: time.Minute})
	callDone := make(chan error, 1)
	go func() {
		_, err := h.controller().CreateVolume(callContext(t), &csi.CreateVolumeRequest{Name: "pvc-1"})
		callDone <- err
	}()
	<-started
	h.cancel()

	select {
	case err := <-h.done:
		t.Fatalf("Run returned (%v) while a call was in progress", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := <-callDone; err != nil {
		t.Fatalf("in-progress call failed during graceful stop: %v", err)
	}
	if err := h.stop(t); err != nil {
		t.Fatalf("Run returned %v after cancel, want nil", err)
	}
	if _, err := os.Lstat(h.socket); !os.IsNotExist(err) {
		t.Fatalf("socket still present after stop: %v", err)
	}
}

func TestGracefulStopTimesOut(t *testing.T) {
	started := make(chan struct{})
	ctrl := &fakeController{create: func(ctx context.Context, _ *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
		close(started)
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	}}
	h := startHarness(t, harnessOptions{controller: ctrl, stopTimeout: 50 * time.Millisecond})
	callDone := make(chan error, 1)
	go func() {
		_, err := h.controller().CreateVolume(callContext(t), &csi.CreateVolumeRequest{Name: "pvc-1"})
		callDone <- err
	}()
	<-started
	if err := h.stop(t); err != nil {
		t.Fatalf("Run returned %v, want nil", err)
	}
	if err := <-callDone; err == nil {
		t.Fatal("call cut off by a hard stop succeeded")
	}
}

func TestRunRefusesRegularFile(t *testing.T) {
	h := &harness{socket: t.TempDir() + "/csi.sock", logs: &syncBuffer{}, registry: prometheus.NewRegistry()}
	if err := os.WriteFile(h.socket, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	srv := newTestServer(t, h, harnessOptions{})
	if err := srv.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "not a unix socket") {
		t.Fatalf("Run over a regular file = %v, want refusal", err)
	}
	if _, err := os.Stat(h.socket); err != nil {
		t.Fatalf("regular file removed: %v", err)
	}
}

func findEntry(t *testing.T, entries []map[string]any, msg string) map[string]any {
	t.Helper()
	for _, e := range entries {
		if e["msg"] == msg {
			return e
		}
	}
	t.Fatalf("no log entry %q among %v", msg, entries)
	return nil
}

func histogramCount(t *testing.T, g prometheus.Gatherer, method string) uint64 {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() != MetricDurationSeconds {
			continue
		}
		for _, m := range mf.GetMetric() {
			if hasLabels(m.GetLabel(), testDriver, method) {
				return m.GetHistogram().GetSampleCount()
			}
		}
	}
	return 0
}

func inFlight(t *testing.T, g prometheus.Gatherer, method string) float64 {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() != MetricInFlight {
			continue
		}
		for _, m := range mf.GetMetric() {
			if hasLabels(m.GetLabel(), testDriver, method) {
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no %s sample for %s", MetricInFlight, method)
	return 0
}

// labelPair is the part of a gathered label the tests look at.
type labelPair interface {
	GetName() string
	GetValue() string
}

func hasLabels[L labelPair](labels []L, driver, method string) bool {
	got := map[string]string{}
	for _, l := range labels {
		got[l.GetName()] = l.GetValue()
	}
	return got["driver"] == driver && got["method"] == method
}
