// Command rbd-driver is the Ceph RBD CSI driver: the Identity service, and
// the Controller and/or Node services depending on --mode. `rbd-driver
// audit [flags]` instead lists (and with --delete removes) the driver's
// orphans in a pool; see internal/audit and docs/audit.md.
package main

import (
	"context"
	"io"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/audit"
	"github.com/seed-6a310834/ceph-csi/shared/drivermain"
)

const (
	programName       = "rbd-driver"
	defaultDriverName = "rbd.csi.ceph.com"
)

// version and commit are set at build time with -ldflags "-X main.version=...
// -X main.commit=..." (the module's VERSION file and the git commit).
var version, commit = "dev", ""

func program() drivermain.Program {
	return drivermain.Program{Name: programName, DefaultDriverName: defaultDriverName, Version: version, Commit: commit,
		Audit: audit.Main, Flags: registerFlags}
}

func main() { program().Main() }

// run parses args, then serves until ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return program().Run(ctx, args, stdout, stderr)
}
