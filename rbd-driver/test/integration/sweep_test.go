package integration

import (
	"os/exec"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/cephrbd"
	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/controller"
)

// TestRestartSweepsTheTrash: images of ours that a stopped controller had
// trashed but not yet purged (its purge queue lives in memory) are purged
// by the next controller at start, within a minute, without any delete.
func TestRestartSweepsTheTrash(t *testing.T) {
	r := newRig(t, 4, 8)
	for range 2 {
		name := "csi-vol-" + uuid.NewString()
		for _, args := range [][]string{{"create", "--size", "4", r.pool + "/" + name}, {"trash", "mv", r.pool + "/" + name}} {
			cmd := exec.Command("rbd", append([]string{"-c", r.cl.ConfPath, "--id", r.cl.AdminID, "--keyring", r.cl.Keyring}, args...)...)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("rbd %v: %v: %s", args, err, out)
			}
		}
	}
	if c, err := r.admin.Audit(r.pool, ""); err != nil || len(c.Trash) != 2 {
		t.Fatalf("before the restart: %v (%v), want 2 trashed images", c, err)
	}
	s, err := controller.New(controller.Config{
		Backend: cephrbd.New(r.cpool, cephrbd.Options{}), Clusters: r.store, InstanceID: "it",
		DefaultSecrets: func() (map[string]string, error) { return r.secrets, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	r.ctrls = append(r.ctrls, s)
	start := time.Now()
	if n := s.SweepAtStart(ctx(t)); n < 1 {
		t.Fatalf("SweepAtStart() queued %d sweeps", n)
	}
	if c, err := r.admin.WaitEmpty(r.pool, "", time.Minute); err != nil || !c.Empty() {
		t.Fatalf("a minute after the restart: %v (%v)", c, err)
	}
	t.Logf("trash empty %v after the restart", time.Since(start).Round(time.Millisecond))
}
