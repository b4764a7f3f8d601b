package config_test

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/seed-6a310834/ceph-csi/liveness-probe/internal/config"
)

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func parse(t *testing.T, args []string, kv map[string]string) (config.Config, error) {
	t.Helper()
	var out bytes.Buffer
	return config.Parse("liveness-probe", args, env(kv), &out)
}

func TestDefaults(t *testing.T) {
	c, err := parse(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := config.Config{
		CSIAddress:    "/run/csi/socket",
		HTTPAddress:   ":9808",
		MetricsPath:   "/metrics",
		ProbeInterval: 30 * time.Second,
		ProbeTimeout:  3 * time.Second,
		HealthzMaxAge: 0,
		LogFormat:     "json",
		LogLevel:      "info",
	}
	if c != want {
		t.Errorf("defaults = %+v, want %+v", c, want)
	}
}

func TestEnvironment(t *testing.T) {
	c, err := parse(t, nil, map[string]string{
		"CSI_ADDRESS":     "unix:///csi/csi.sock",
		"HTTP_ADDRESS":    "127.0.0.1:9999",
		"METRICS_PATH":    "/m",
		"PROBE_INTERVAL":  "10s",
		"PROBE_TIMEOUT":   "1s",
		"HEALTHZ_MAX_AGE": "20s",
		"LOG_FORMAT":      "console",
		"LOG_LEVEL":       "debug",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := config.Config{
		CSIAddress: "unix:///csi/csi.sock", HTTPAddress: "127.0.0.1:9999", MetricsPath: "/m",
		ProbeInterval: 10 * time.Second, ProbeTimeout: time.Second, HealthzMaxAge: 20 * time.Second,
		LogFormat: "console", LogLevel: "debug",
	}
	if c != want {
		t.Errorf("from env = %+v, want %+v", c, want)
	}
}

func TestFlagsWinOverEnvironment(t *testing.T) {
	c, err := parse(t, []string{
		"--csi-address=/flag.sock", "--http-address", ":1", "--metrics-path=/flag",
		"--probe-interval=2s", "--probe-timeout=500ms", "--healthz-max-age=5s", "--log-format=json", "--log-level=warn",
	}, map[string]string{
		"CSI_ADDRESS": "/env.sock", "HTTP_ADDRESS": ":2", "METRICS_PATH": "/env",
		"PROBE_INTERVAL": "9s", "PROBE_TIMEOUT": "9s", "HEALTHZ_MAX_AGE": "9s", "LOG_FORMAT": "console", "LOG_LEVEL": "debug",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := config.Config{
		CSIAddress: "/flag.sock", HTTPAddress: ":1", MetricsPath: "/flag",
		ProbeInterval: 2 * time.Second, ProbeTimeout: 500 * time.Millisecond, HealthzMaxAge: 5 * time.Second,
		LogFormat: "json", LogLevel: "warn",
	}
	if c != want {
		t.Errorf("flags+env = %+v, want %+v", c, want)
	}
}

func TestBadEnvironmentValue(t *testing.T) {
	_, err := parse(t, nil, map[string]string{"PROBE_TIMEOUT": "soon"})
	if err == nil || !strings.Contains(err.Error(), "PROBE_TIMEOUT") {
		t.Errorf("bad PROBE_TIMEOUT: err = %v, want an error naming it", err)
	}
	// A flag overriding the bad value makes it irrelevant.
	c, err := parse(t, []string{"--probe-timeout=2s"}, map[string]string{"PROBE_TIMEOUT": "soon"})
	if err != nil || c.ProbeTimeout != 2*time.Second {
		t.Errorf("bad env overridden by flag: %+v, %v", c, err)
	}
}

func TestValidation(t *testing.T) {
	for _, args := range [][]string{
		{"--csi-address="},
		{"--probe-interval=0"},
		{"--probe-timeout=-1s"},
		{"--healthz-max-age=-1s"},
		{"--metrics-path=metrics"},
		{"--metrics-path=/healthz"},
		{"--log-format=xml"},
		{"--log-level=loud"},
		{"--no-such-flag"},
		{"extra-arg"},
	} {
		if c, err := parse(t, args, nil); err == nil {
			t.Errorf("Parse(%q) = %+v, want error", args, c)
		}
	}
}

func TestVersionAndHelp(t *testing.T) {
	c, err := parse(t, []string{"--version"}, map[string]string{"PROBE_TIMEOUT": "bad"})
	if err != nil || !c.ShowVersion {
		t.Errorf("--version = %+v, %v; want ShowVersion without validation", c, err)
	}
	var out bytes.Buffer
	_, err = config.Parse("liveness-probe", []string{"--help"}, env(nil), &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Errorf("--help err = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"-csi-address", "CSI_ADDRESS", "-healthz-max-age", "HEALTHZ_MAX_AGE"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, out.String())
		}
	}
}
