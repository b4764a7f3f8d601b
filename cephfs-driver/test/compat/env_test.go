package compat

import (
	"testing"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/controller"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/test/rig"
)

// env is the test rig, with this package's fixture writers as methods.
type env struct{ *rig.Env }

func newEnv(t *testing.T, opts ...func(*controller.Config)) *env {
	return &env{rig.New(t, opts...)}
}
