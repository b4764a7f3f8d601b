// Package cliflags defines the command-line flags shared by the CSI drivers.
// A driver registers them on its own flag.FlagSet, adds any flags of its
// own to the same set, parses it and validates the result.
package cliflags

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/seed-6a310834/ceph-csi/shared/csiserver"
	"github.com/seed-6a310834/ceph-csi/shared/identity"
	"github.com/seed-6a310834/ceph-csi/shared/logging"
)

// Flag defaults.
const (
	DefaultEndpoint      = "unix:///csi/csi.sock"
	DefaultMode          = ModeAll
	DefaultInstanceID    = "default"
	DefaultClusterConfig = "/etc/ceph-csi-config/config.json"
	DefaultLogFormat     = logging.FormatJSON
	DefaultLogLevel      = zapcore.InfoLevel
	// DefaultCephConnectTimeout and DefaultCephOpTimeout are the bounds
	// shared/cephconn applies by default.
	DefaultCephConnectTimeout = 10 * time.Second
	DefaultCephOpTimeout      = 30 * time.Second
)

// Mode selects which CSI services a driver process serves.
type Mode string

// Modes accepted by --mode.
const (
	// ModeController serves the Identity and Controller services.
	ModeController Mode = "controller"
	// ModeNode serves the Identity and Node services.
	ModeNode Mode = "node"
	// ModeAll serves the Identity, Controller and Node services.
	ModeAll Mode = "all"
)

// ParseMode returns the Mode named s.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeController, ModeNode, ModeAll:
		return m, nil
	default:
		return "", fmt.Errorf("unknown mode %q (want %q, %q or %q)", s, ModeController, ModeNode, ModeAll)
	}
}

// ServesController reports whether the mode serves the Controller service.
func (m Mode) ServesController() bool { return m == ModeController || m == ModeAll }

// ServesNode reports whether the mode serves the Node service.
func (m Mode) ServesNode() bool { return m == ModeNode || m == ModeAll }

// String returns the mode's flag value.
func (m Mode) String() string { return string(m) }

// Set parses s into m; it makes *Mode a flag.Value.
func (m *Mode) Set(s string) error {
	parsed, err := ParseMode(s)
	if err != nil {
		return err
	}
	*m = parsed
	return nil
}

// Options holds the values of the shared flags.
type Options struct {
	// Endpoint is the CSI endpoint: unix:///path or tcp://host:port.
	Endpoint string
	// Mode selects the CSI services to serve.
	Mode Mode
	// NodeID identifies this node; required when Mode serves the Node service.
	NodeID string
	// DriverName is the CSI plugin name.
	DriverName string
	// InstanceID names the journal instance, keeping several driver
	// deployments on one cluster apart.
	InstanceID string
	// ClusterConfig is the path of the ceph-csi cluster configuration file.
	ClusterConfig string
	// MetricsAddress is the host:port to serve metrics on; empty disables it.
	MetricsAddress string
	// LogFormat is the log encoding: "json" or "console".
	LogFormat string
	// LogLevel is the minimum level logged.
	LogLevel zapcore.Level
	// Version asks the driver to print its version and exit.
	Version bool
	// CephConnectTimeout bounds connecting to a cluster's monitors.
	CephConnectTimeout time.Duration
	// CephOpTimeout bounds each OSD operation and each monitor command
	// that librados bounds: a stopped daemon makes a request fail
	// Unavailable after it instead of hanging.
	CephOpTimeout time.Duration
}

// ErrUsage marks a command-line error: a flag the flag package rejected
// (it has printed the usage text already) or an unexpected argument.
var ErrUsage = errors.New("invalid command line")

// Parse parses args into fs. help is true when --help or -h was given (the
// usage text is printed; the caller stops without error). A flag error or a
// positional argument is an error wrapping ErrUsage.
func Parse(fs *flag.FlagSet, args []string) (help bool, err error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, nil
		}
		return false, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return false, fmt.Errorf("%w: unexpected arguments %q", ErrUsage, fs.Args())
	}
	return false, nil
}

// Register defines the shared flags on fs and returns the Options that
// fs.Parse fills in. defaultDriverName is the default of --driver-name.
func Register(fs *flag.FlagSet, defaultDriverName string) *Options {
	o := &Options{Mode: DefaultMode, LogLevel: DefaultLogLevel}
	fs.StringVar(&o.Endpoint, "endpoint", DefaultEndpoint, "CSI endpoint: unix:///path or tcp://host:port")
	fs.Var(&o.Mode, "mode", `CSI services to serve: "controller", "node" or "all"`)
	fs.StringVar(&o.NodeID, "node-id", "", "ID of this node; required in node and all modes")
	fs.StringVar(&o.DriverName, "driver-name", defaultDriverName, "CSI driver name")
	fs.StringVar(&o.InstanceID, "instance-id", DefaultInstanceID, "journal instance ID, unique per driver deployment on a cluster")
	fs.StringVar(&o.ClusterConfig, "cluster-config", DefaultClusterConfig, "path of the Ceph cluster configuration file")
	fs.StringVar(&o.MetricsAddress, "metrics-address", "", "host:port to serve Prometheus metrics on; empty disables metrics")
	fs.StringVar(&o.LogFormat, "log-format", DefaultLogFormat, `log format: "json" or "console"`)
	fs.Var(&o.LogLevel, "log-level", `minimum log level: "debug", "info" (default), "warn" or "error"`)
	fs.BoolVar(&o.Version, "version", false, "print the version and exit")
	o.registerCeph(fs)
	return o
}

// Validate checks the options and reports every problem found, each naming
// the flag at fault. Drivers handle --version before calling Validate.
func (o *Options) Validate() error {
	return errors.Join(
		flagError("endpoint", validateEndpoint(o.Endpoint)),
		flagError("mode", validateMode(o.Mode)),
		flagError("node-id", validateNodeID(o.Mode, o.NodeID)),
		flagError("driver-name", identity.ValidateName(o.DriverName)),
		flagError("instance-id", validateInstanceID(o.InstanceID)),
		flagError("cluster-config", required(o.ClusterConfig)),
		flagError("metrics-address", validateMetricsAddress(o.MetricsAddress)),
		flagError("log-format", logging.ValidateFormat(o.LogFormat)),
		flagError("ceph-connect-timeout", validateCephTimeout(o.CephConnectTimeout)),
		flagError("ceph-op-timeout", validateCephTimeout(o.CephOpTimeout)),
	)
}

// registerCeph defines the bounds on Ceph calls.
func (o *Options) registerCeph(fs *flag.FlagSet) {
	fs.DurationVar(&o.CephConnectTimeout, "ceph-connect-timeout", DefaultCephConnectTimeout,
		"bound on connecting to a Ceph cluster's monitors")
	fs.DurationVar(&o.CephOpTimeout, "ceph-op-timeout", DefaultCephOpTimeout,
		"bound on each Ceph OSD operation and monitor command; a stopped daemon fails requests with Unavailable after it")
}

// validateCephTimeout accepts whole seconds from 1 s: librados counts its
// timeouts in seconds.
func validateCephTimeout(d time.Duration) error {
	if d < time.Second || d%time.Second != 0 {
		return fmt.Errorf("%v: want a whole number of seconds, at least 1s", d)
	}
	return nil
}

// flagError prefixes err with the flag name, or returns nil for a nil err.
func flagError(name string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("--%s: %w", name, err)
}

func validateEndpoint(endpoint string) error {
	_, _, err := csiserver.ParseEndpoint(endpoint)
	return err
}

func validateMode(m Mode) error {
	_, err := ParseMode(string(m))
	return err
}

func validateNodeID(m Mode, nodeID string) error {
	if m.ServesNode() && nodeID == "" {
		return fmt.Errorf("required in %q mode", m)
	}
	return nil
}

func validateInstanceID(id string) error {
	if id == "" {
		return errors.New("must not be empty")
	}
	if strings.ContainsFunc(id, isSpaceOrControl) {
		return fmt.Errorf("%q must not contain spaces or control characters", id)
	}
	return nil
}

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }

func required(value string) error {
	if value == "" {
		return errors.New("must not be empty")
	}
	return nil
}

func validateMetricsAddress(addr string) error {
	if addr == "" {
		return nil
	}
	if _, port, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("%q: want host:port: %w", addr, err)
	} else if port == "" {
		return fmt.Errorf("%q: missing port", addr)
	}
	return nil
}
