package metrics_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/seed-6a310834/ceph-csi/liveness-probe/internal/metrics"
)

func TestInitialState(t *testing.T) {
	m := metrics.New("v1.2.3")
	want := `
# HELP csi_liveness 1 if the last probe of the CSI driver succeeded and the driver reported ready, else 0.
# TYPE csi_liveness gauge
csi_liveness{driver="unknown"} 0
# HELP csi_liveness_last_success_timestamp_seconds Unix time of the last successful probe of a ready CSI driver (0 if none yet).
# TYPE csi_liveness_last_success_timestamp_seconds gauge
csi_liveness_last_success_timestamp_seconds 0
# HELP csi_liveness_probe_build_info Build information of the CSI liveness probe; always 1.
# TYPE csi_liveness_probe_build_info gauge
csi_liveness_probe_build_info{version="v1.2.3"} 1
# HELP csi_liveness_probe_failures_total Failed CSI driver probes by reason (timeout, not_ready, unavailable, error).
# TYPE csi_liveness_probe_failures_total counter
csi_liveness_probe_failures_total{reason="error"} 0
csi_liveness_probe_failures_total{reason="not_ready"} 0
csi_liveness_probe_failures_total{reason="timeout"} 0
csi_liveness_probe_failures_total{reason="unavailable"} 0
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		metrics.LivenessName, metrics.LastSuccessName, metrics.BuildInfoName, metrics.FailuresName); err != nil {
		t.Error(err)
	}
}

func TestRecordProbe(t *testing.T) {
	m := metrics.New("test")
	at := time.Unix(1_700_000_123, 500_000_000)

	m.RecordProbe("", 10*time.Millisecond, "unavailable", at) // name not known yet
	m.RecordProbe("rbd.csi.ceph.com", 20*time.Millisecond, "", at)
	m.RecordProbe("rbd.csi.ceph.com", 3*time.Second, "timeout", at.Add(time.Minute))
	m.RecordProbe("rbd.csi.ceph.com", 5*time.Millisecond, "", at.Add(2*time.Minute))
	m.RecordProbe("rbd.csi.ceph.com", 5*time.Millisecond, "not_ready", at.Add(3*time.Minute))

	want := `
# HELP csi_liveness 1 if the last probe of the CSI driver succeeded and the driver reported ready, else 0.
# TYPE csi_liveness gauge
csi_liveness{driver="rbd.csi.ceph.com"} 0
# HELP csi_liveness_last_success_timestamp_seconds Unix time of the last successful probe of a ready CSI driver (0 if none yet).
# TYPE csi_liveness_last_success_timestamp_seconds gauge
csi_liveness_last_success_timestamp_seconds 1.7000002435e+09
# HELP csi_liveness_probe_failures_total Failed CSI driver probes by reason (timeout, not_ready, unavailable, error).
# TYPE csi_liveness_probe_failures_total counter
csi_liveness_probe_failures_total{reason="error"} 0
csi_liveness_probe_failures_total{reason="not_ready"} 1
csi_liveness_probe_failures_total{reason="timeout"} 1
csi_liveness_probe_failures_total{reason="unavailable"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		metrics.LivenessName, metrics.LastSuccessName, metrics.FailuresName); err != nil {
		t.Error(err)
	}
	if got := testutil.CollectAndCount(m.Registry(), metrics.DurationName); got != 1 {
		t.Errorf("duration series = %d, want 1", got)
	}
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == metrics.DurationName {
			h := mf.GetMetric()[0].GetHistogram()
			if h.GetSampleCount() != 5 {
				t.Errorf("histogram count = %d, want 5", h.GetSampleCount())
			}
			if got, want := h.GetSampleSum(), 3.04; got < want-1e-9 || got > want+1e-9 {
				t.Errorf("histogram sum = %v, want %v", got, want)
			}
		}
	}
}

func TestRuntimeAndProcessCollectors(t *testing.T) {
	m := metrics.New("test")
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, want := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total", "process_resident_memory_bytes"} {
		if !names[want] {
			t.Errorf("metric %s missing from the registry", want)
		}
	}
}

func TestPrivateRegistry(t *testing.T) {
	_ = metrics.New("a")
	_ = metrics.New("b") // a second instance must not collide
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "csi_liveness") {
			t.Errorf("%s registered on the global default registry", mf.GetName())
		}
	}
}

func TestLint(t *testing.T) {
	m := metrics.New("test")
	m.RecordProbe("d", time.Millisecond, "", time.Now())
	problems, err := testutil.GatherAndLint(m.Registry(),
		metrics.LivenessName, metrics.DurationName, metrics.FailuresName, metrics.LastSuccessName, metrics.BuildInfoName)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}
