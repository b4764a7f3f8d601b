// Command rbd-driver is the Ceph RBD CSI driver: the Identity service, and
// the Controller and/or Node services depending on --mode. `rbd-driver
// audit [flags]` instead lists (and with --delete removes) the driver's
// orphans in a pool; see internal/audit and docs/audit.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/audit"
	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/driver"
	sharedaudit "github.com/seed-6a310834/ceph-csi/shared/audit"
	"github.com/seed-6a310834/ceph-csi/shared/cliflags"
	"github.com/seed-6a310834/ceph-csi/shared/csiserver"
	"github.com/seed-6a310834/ceph-csi/shared/logging"
)

const (
	programName       = "rbd-driver"
	defaultDriverName = "rbd.csi.ceph.com"
)

// errUsage marks a command-line error that the flag package has already
// reported together with the usage text.
var errUsage = errors.New("invalid command line")

// version is the driver version, set at build time with
// -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := csiserver.SignalContext(context.Background())
	if len(os.Args) > 1 && os.Args[1] == sharedaudit.Command {
		code := audit.Main(ctx, os.Args[2:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, errUsage):
		os.Exit(2)
	case err != nil:
		fmt.Fprintf(os.Stderr, "%s: %v\n", programName, err)
		os.Exit(1)
	}
}

// run parses args, then serves until ctx ends. Output requested by a flag
// (--version, --help) goes to stdout or stderr; logs go to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(programName, flag.ContinueOnError)
	fs.SetOutput(stderr)
	opts := cliflags.Register(fs, defaultDriverName)
	rbdOpts := registerRBDFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	if opts.Version {
		_, err := fmt.Fprintf(stdout, "%s %s\n", opts.DriverName, version)
		return err
	}
	if err := errors.Join(opts.Validate(), rbdOpts.validate(opts.Mode)); err != nil {
		return err
	}
	logger, err := logging.New(opts.LogFormat, opts.LogLevel, zapcore.AddSync(stderr))
	if err != nil {
		return err
	}
	defer func() { _ = logger.Sync() }()
	rbdOpts.applyMemoryLimit(logger)
	return serve(ctx, opts, rbdOpts, logger)
}

// serve runs the driver until ctx ends.
func serve(ctx context.Context, opts *cliflags.Options, rbdOpts *rbdOptions, logger *zap.Logger) error {
	topology, _ := parseTopology(rbdOpts.topology)
	return driver.Run(ctx, driver.Config{
		Shared: opts,
		RBD: driver.RBDOptions{
			CloneSoftDepth: rbdOpts.cloneSoftDepth, CloneHardDepth: rbdOpts.cloneHardDepth,
			SetMetadata: rbdOpts.setMetadata, MaxVolumesPerNode: rbdOpts.maxVolumesPerNode,
			Topology: topology, StateDir: rbdOpts.stateDir, SecretsDir: rbdOpts.secretsDir,
			MgrTimeout: rbdOpts.mgrTimeout,
		},
		Version: version,
		Logger:  logger,
	})
}
