// Command cephfs-driver is the CephFS CSI driver: the Identity service
// always, the Controller service (subvolumes, snapshots, clones, shallow
// volumes, expansion, capacity) in controller and all modes, and the Node
// service (kernel or ceph-fuse mounts) in node and all modes. See
// cephfs-driver/docs/architecture.md. `cephfs-driver audit [flags]` instead
// lists (and with --delete removes) the driver's orphans: see
// internal/audit and docs/audit.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/audit"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/driver"
	"github.com/seed-6a310834/ceph-csi/shared/cliflags"
	"github.com/seed-6a310834/ceph-csi/shared/drivermain"
	"github.com/seed-6a310834/ceph-csi/shared/logging"
)

const (
	programName       = "cephfs-driver"
	defaultDriverName = "cephfs.csi.ceph.com"
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
	dopts := registerDriverFlags(fs)
	if help, err := cliflags.Parse(fs, args); help || err != nil {
		return err
	}
	if opts.Version {
		_, err := fmt.Fprintf(stdout, "%s %s\n", opts.DriverName, version)
		return err
	}
	if err := errors.Join(opts.Validate(), validateDriverFlags(dopts)); err != nil {
		return err
	}
	logger, err := logging.New(opts.LogFormat, opts.LogLevel, zapcore.AddSync(stderr))
	if err != nil {
		return err
	}
	defer func() { _ = logger.Sync() }()
	return serve(ctx, opts, dopts, logger)
}

// serve runs the driver until ctx ends.
func serve(ctx context.Context, opts *cliflags.Options, dopts *driver.CephFSOptions, logger *zap.Logger) error {
	return driver.Run(ctx, driver.Config{Shared: opts, CephFS: *dopts, Version: version, Logger: logger})
}
