package main

import (
	"testing"

	"github.com/seed-6a310834/ceph-csi/shared/cmdtest"
	"github.com/seed-6a310834/ceph-csi/shared/driverproc"
)

// TestAuditSubcommand runs `cephfs-driver audit` as a process: it answers
// with the audit's exit codes instead of starting the driver.
func TestAuditSubcommand(t *testing.T) {
	binary := driverproc.Binary(t, "CEPHFS_DRIVER_BINARY", "../..", "./cmd/cephfs-driver", "pacific")
	cmdtest.AuditSubcommand(t, binary, "--fs-name", "--fs-name", "cephfs")
}
