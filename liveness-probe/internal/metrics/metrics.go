// Package metrics holds the liveness probe's Prometheus metrics on a private
// registry (the global default registry is never touched).
package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metric names.
const (
	LivenessName    = "csi_liveness"
	DurationName    = "csi_liveness_probe_duration_seconds"
	FailuresName    = "csi_liveness_probe_failures_total"
	LastSuccessName = "csi_liveness_last_success_timestamp_seconds"
	BuildInfoName   = "csi_liveness_probe_build_info"
)

// UnknownDriver is the driver label before the driver name is known.
const UnknownDriver = "unknown"

// FailureReasons returns the values of the "reason" label of the failures
// counter; all of them are exported (at 0) from the start.
func FailureReasons() []string {
	return []string{"timeout", "not_ready", "unavailable", "error"}
}

// Metrics records probe outcomes. It implements prober.Recorder.
type Metrics struct {
	registry    *prometheus.Registry
	liveness    *prometheus.GaugeVec
	duration    prometheus.Histogram
	failures    *prometheus.CounterVec
	lastSuccess prometheus.Gauge

	mu     sync.Mutex
	driver string // current driver label of the liveness gauge
}

// New creates the metrics on a new private registry, together with the Go
// runtime and process collectors and a build info gauge.
func New(version string) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		liveness: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: LivenessName,
			Help: "1 if the last probe of the CSI driver succeeded and the driver reported ready, else 0.",
		}, []string{"driver"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    DurationName,
			Help:    "Duration of CSI driver probes (GetPluginInfo when needed + Probe), successful or not.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: FailuresName,
			Help: "Failed CSI driver probes by reason (timeout, not_ready, unavailable, error).",
		}, []string{"reason"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: LastSuccessName,
			Help: "Unix time of the last successful probe of a ready CSI driver (0 if none yet).",
		}),
		driver: UnknownDriver,
	}
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        BuildInfoName,
		Help:        "Build information of the CSI liveness probe; always 1.",
		ConstLabels: prometheus.Labels{"version": version},
	})
	buildInfo.Set(1)
	m.liveness.WithLabelValues(UnknownDriver).Set(0)
	for _, r := range FailureReasons() {
		m.failures.WithLabelValues(r)
	}
	m.registry.MustRegister(
		m.liveness, m.duration, m.failures, m.lastSuccess, buildInfo,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Registry is the private registry holding all metrics.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// RecordProbe records one completed probe. reason is "" on success.
func (m *Metrics) RecordProbe(driver string, duration time.Duration, reason string, at time.Time) {
	if driver == "" {
		driver = UnknownDriver
	}
	m.duration.Observe(duration.Seconds())

	m.mu.Lock()
	defer m.mu.Unlock()
	if driver != m.driver {
		// One series only: drop the old driver label (e.g. "unknown").
		m.liveness.DeleteLabelValues(m.driver)
		m.driver = driver
	}
	if reason == "" {
		m.liveness.WithLabelValues(driver).Set(1)
		m.lastSuccess.Set(float64(at.UnixNano()) / 1e9)
		return
	}
	m.liveness.WithLabelValues(driver).Set(0)
	m.failures.WithLabelValues(reason).Inc()
}
