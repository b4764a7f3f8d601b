package main

import (
	"testing"

	"github.com/seed-6a310834/ceph-csi/shared/cliflags"
	"github.com/seed-6a310834/ceph-csi/shared/cmdtest"
)

// TestCommandLine runs the command-line suite both drivers share.
func TestCommandLine(t *testing.T) {
	cmdtest.Run(t, cmdtest.Command{Run: run, DefaultDriverName: defaultDriverName, UsageError: cliflags.ErrUsage})
}
