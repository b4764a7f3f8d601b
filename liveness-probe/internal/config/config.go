// Package config parses the liveness probe's command line flags, with
// defaults taken from environment variables (flags win over the environment).
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"
)

// Config is the parsed configuration.
type Config struct {
	CSIAddress    string
	HTTPAddress   string
	MetricsPath   string
	ProbeInterval time.Duration
	ProbeTimeout  time.Duration
	HealthzMaxAge time.Duration
	LogFormat     string // "json" or "console"
	LogLevel      string // zap level: debug, info, warn, error
	ShowVersion   bool
}

// Defaults.
const (
	DefaultCSIAddress    = "/run/csi/socket"
	DefaultHTTPAddress   = ":9808"
	DefaultMetricsPath   = "/metrics"
	DefaultProbeInterval = 30 * time.Second
	DefaultProbeTimeout  = 3 * time.Second
	DefaultLogFormat     = "json"
	DefaultLogLevel      = "info"
)

// Parse parses args (without the program name). getenv supplies environment
// variables (os.Getenv); usage and flag errors are written to out. With -h or
// --help it returns flag.ErrHelp.
func Parse(name string, args []string, getenv func(string) string, out io.Writer) (Config, error) {
	var c Config
	env := &envDefaults{getenv: getenv, errs: map[string]error{}}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	c.register(fs, env)

	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if c.ShowVersion {
		return c, nil
	}
	if err := errors.Join(append(env.unresolved(fs), c.validate())...); err != nil {
		return Config{}, err
	}
	return c, nil
}

// register defines the flags on fs, with defaults from the environment.
func (c *Config) register(fs *flag.FlagSet, env *envDefaults) {
	fs.StringVar(&c.CSIAddress, "csi-address", env.str("CSI_ADDRESS", DefaultCSIAddress),
		"CSI driver endpoint: a unix socket path, unix:///path or tcp://host:port [env CSI_ADDRESS]")
	fs.StringVar(&c.HTTPAddress, "http-address", env.str("HTTP_ADDRESS", DefaultHTTPAddress),
		"address to serve metrics and /healthz on [env HTTP_ADDRESS]")
	fs.StringVar(&c.MetricsPath, "metrics-path", env.str("METRICS_PATH", DefaultMetricsPath),
		"HTTP path of the Prometheus metrics [env METRICS_PATH]")
	fs.DurationVar(&c.ProbeInterval, "probe-interval", env.dur("probe-interval", "PROBE_INTERVAL", DefaultProbeInterval),
		"interval between background probes [env PROBE_INTERVAL]")
	fs.DurationVar(&c.ProbeTimeout, "probe-timeout", env.dur("probe-timeout", "PROBE_TIMEOUT", DefaultProbeTimeout),
		"timeout of one probe (GetPluginInfo + Probe) [env PROBE_TIMEOUT]")
	fs.DurationVar(&c.HealthzMaxAge, "healthz-max-age", env.dur("healthz-max-age", "HEALTHZ_MAX_AGE", 0),
		"answer /healthz from the last background probe if it is younger than this; 0 = always probe live [env HEALTHZ_MAX_AGE]")
	fs.StringVar(&c.LogFormat, "log-format", env.str("LOG_FORMAT", DefaultLogFormat),
		"log format: json or console [env LOG_FORMAT]")
	fs.StringVar(&c.LogLevel, "log-level", env.str("LOG_LEVEL", DefaultLogLevel),
		"log level: debug, info, warn or error [env LOG_LEVEL]")
	fs.BoolVar(&c.ShowVersion, "version", false, "print the version and exit")
}

// envDefaults reads flag defaults from environment variables and remembers
// the values that do not parse, by flag name.
type envDefaults struct {
	getenv func(string) string
	errs   map[string]error // flag name -> bad environment value
}

func (e *envDefaults) lookup(key string) (string, bool) {
	v := strings.TrimSpace(e.getenv(key))
	return v, v != ""
}

func (e *envDefaults) str(key, def string) string {
	if v, ok := e.lookup(key); ok {
		return v
	}
	return def
}

func (e *envDefaults) dur(flagName, key string, def time.Duration) time.Duration {
	v, ok := e.lookup(key)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		e.errs[flagName] = fmt.Errorf("environment variable %s=%q: %w", key, v, err)
		return def
	}
	return d
}

// unresolved returns the errors of bad environment values that no flag on
// the command line overrides, sorted by flag name for a stable message.
func (e *envDefaults) unresolved(fs *flag.FlagSet) []error {
	fs.Visit(func(f *flag.Flag) { delete(e.errs, f.Name) })
	errs := make([]error, 0, len(e.errs)+1)
	fs.VisitAll(func(f *flag.Flag) {
		if err, ok := e.errs[f.Name]; ok {
			errs = append(errs, err)
		}
	})
	return errs
}

func (c Config) validate() error {
	var errs []error
	if strings.TrimSpace(c.CSIAddress) == "" {
		errs = append(errs, errors.New("--csi-address must not be empty"))
	}
	if c.ProbeInterval <= 0 {
		errs = append(errs, fmt.Errorf("--probe-interval must be positive, got %s", c.ProbeInterval))
	}
	if c.ProbeTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--probe-timeout must be positive, got %s", c.ProbeTimeout))
	}
	if c.HealthzMaxAge < 0 {
		errs = append(errs, fmt.Errorf("--healthz-max-age must not be negative, got %s", c.HealthzMaxAge))
	}
	if !strings.HasPrefix(c.MetricsPath, "/") || c.MetricsPath == "/healthz" {
		errs = append(errs, fmt.Errorf("--metrics-path must start with / and not be /healthz, got %q", c.MetricsPath))
	}
	if _, err := zapcore.ParseLevel(c.LogLevel); err != nil {
		errs = append(errs, fmt.Errorf("--log-level: %w", err))
	}
	switch c.LogFormat {
	case "json", "console":
	default:
		errs = append(errs, fmt.Errorf("--log-format must be json or console, got %q", c.LogFormat))
	}
	return errors.Join(errs...)
}
