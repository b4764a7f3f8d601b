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

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/audit"
	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/driver"
	"github.com/seed-6a310834/ceph-csi/shared/cliflags"
	"github.com/seed-6a310834/ceph-csi/shared/drivermain"
	"github.com/seed-6a310834/ceph-csi/shared/logging"
)

const (
	programName       = "rbd-driver"
	defaultDriverName = "rbd.csi.ceph.com"
)

// version is the driver version, set at build time with
// -ldflags "-X main.version=...".
var version = "dev"

func main() {
	drivermain.Program{Name: programName, Audit: audit.Main, Run: run}.Main()
}

// run parses args, then serves until ctx ends. Output requested by a flag
// (--version, --help) goes to stdout or stderr; logs go to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(programName, flag.ContinueOnError)
	fs.SetOutput(stderr)
	opts := cliflags.Register(fs, defaultDriverName)
	rbdOpts := registerRBDFlags(fs)
	if help, err := cliflags.Parse(fs, args); help || err != nil {
		return err
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
