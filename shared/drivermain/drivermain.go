// Package drivermain is the main function both driver binaries share: it
// dispatches the `audit` subcommand, runs the driver otherwise, and turns
// the outcome into the documented exit codes.
package drivermain

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/seed-6a310834/ceph-csi/shared/audit"
	"github.com/seed-6a310834/ceph-csi/shared/buildinfo"
	"github.com/seed-6a310834/ceph-csi/shared/cliflags"
	"github.com/seed-6a310834/ceph-csi/shared/csiserver"
	"github.com/seed-6a310834/ceph-csi/shared/logging"
)

// Exit codes of the serve command (the audit subcommand documents its own).
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

// Program is a driver binary.
type Program struct {
	// Name prefixes error messages ("rbd-driver: ...").
	Name string
	// Audit runs `<program> audit ARGS` and returns its exit code.
	Audit func(ctx context.Context, args []string, stdout, stderr io.Writer) int
	// DefaultDriverName is the --driver-name default.
	DefaultDriverName string
	// Version is what --version prints after the driver name, and what the
	// Identity service reports.
	Version string
	// Commit is the git commit --version prints (empty: the Go toolchain's
	// VCS stamp, else "unknown"); see shared/buildinfo.
	Commit string
	// Flags registers the driver's own flags beside the shared ones.
	Flags func(fs *flag.FlagSet) Flags
}

// Flags are a driver's own command-line flags.
type Flags interface {
	// Validate checks the parsed values for the mode.
	Validate(mode cliflags.Mode) error
	// Serve runs the driver until ctx ends.
	Serve(ctx context.Context, opts *cliflags.Options, version string, logger *zap.Logger) error
}

// Run parses args (the shared flags and the driver's own), answers
// --version and --help, then serves until ctx ends. An error wrapping
// cliflags.ErrUsage has been reported with the usage text already. Output
// requested by a flag goes to stdout or stderr; logs go to stderr.
func (p Program) Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(p.Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	opts := cliflags.Register(fs, p.DefaultDriverName)
	own := p.Flags(fs)
	if help, err := cliflags.Parse(fs, args); help || err != nil {
		return err
	}
	if opts.Version {
		_, err := io.WriteString(stdout, buildinfo.Read(opts.DriverName, p.Version, p.Commit).String())
		return err
	}
	if err := errors.Join(opts.Validate(), own.Validate(opts.Mode)); err != nil {
		return err
	}
	logger, err := logging.New(opts.LogFormat, opts.LogLevel, zapcore.AddSync(stderr))
	if err != nil {
		return err
	}
	defer func() { _ = logger.Sync() }()
	return own.Serve(ctx, opts, p.Version, logger)
}

// Main runs the program on the process's arguments, stopping on SIGINT or
// SIGTERM, and exits with its code.
func (p Program) Main() {
	ctx, stop := csiserver.SignalContext(context.Background())
	code := p.Code(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Code runs the program on args and returns the exit code: the audit
// subcommand's own, or ExitOK, ExitUsage for a command-line error and
// ExitError for anything else (printed to stderr).
func (p Program) Code(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == audit.Command {
		return p.Audit(ctx, args[1:], stdout, stderr)
	}
	err := p.Run(ctx, args, stdout, stderr)
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, cliflags.ErrUsage):
		return ExitUsage
	default:
		fmt.Fprintf(stderr, "%s: %v\n", p.Name, err)
		return ExitError
	}
}
