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
	"io"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/audit"
	"github.com/seed-6a310834/ceph-csi/shared/drivermain"
)

const (
	programName       = "cephfs-driver"
	defaultDriverName = "cephfs.csi.ceph.com"
)

// version and commit are set at build time with -ldflags "-X main.version=...
// -X main.commit=..." (the module's VERSION file and the git commit).
var version, commit = "dev", ""

func program() drivermain.Program {
	return drivermain.Program{Name: programName, DefaultDriverName: defaultDriverName, Version: version, Commit: commit,
		Audit: audit.Main, Flags: registerDriverFlags}
}

func main() { program().Main() }

// run parses args, then serves until ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return program().Run(ctx, args, stdout, stderr)
}
