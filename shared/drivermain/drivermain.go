// Package drivermain is the main function both driver binaries share: it
// dispatches the `audit` subcommand, runs the driver otherwise, and turns
// the outcome into the documented exit codes.
package drivermain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/seed-6a310834/ceph-csi/shared/audit"
	"github.com/seed-6a310834/ceph-csi/shared/cliflags"
	"github.com/seed-6a310834/ceph-csi/shared/csiserver"
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
	// Run parses ARGS and serves until ctx ends. An error wrapping
	// cliflags.ErrUsage has been reported with the usage text already.
	Run func(ctx context.Context, args []string, stdout, stderr io.Writer) error
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
