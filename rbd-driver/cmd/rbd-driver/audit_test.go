package main

import (
	"testing"

	"github.com/seed-6a310834/ceph-csi/shared/cmdtest"
	"github.com/seed-6a310834/ceph-csi/shared/driverproc"
)

// TestAuditSubcommand runs `rbd-driver audit` as a process: it answers
// with the audit's exit codes instead of starting the driver.
func TestAuditSubcommand(t *testing.T) {
	binary := driverproc.Binary(t, "RBD_DRIVER_BINARY", "../..", "./cmd/rbd-driver", "pacific")
	cmdtest.AuditSubcommand(t, binary, "--pool", "--pool", "rbd")
}
