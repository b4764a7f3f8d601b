package controller

import (
	"context"
	"testing"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
)

// TestSweepAtStartPurgesWhatAStoppedControllerLeft: images of ours that a
// previous controller trashed without purging are purged at start, in
// every pool, with no delete; someone else's trashed image stays.
func TestSweepAtStartPurgesWhatAStoppedControllerLeft(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sess, err := e.be.Connect(ctx, backend.Target{ClusterID: testCluster})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Release()
	imgs := []backend.ImageRef{
		{PoolRef: backend.PoolRef{Pool: testPool}, Name: "csi-vol-0e0e0e0e-0000-4000-8000-000000000001"},
		{PoolRef: backend.PoolRef{Pool: otherPool}, Name: "csi-vol-0e0e0e0e-0000-4000-8000-000000000002"},
		{PoolRef: backend.PoolRef{Pool: testPool}, Name: "someone-elses"},
	}
	for _, img := range imgs {
		if _, err := sess.CreateImage(ctx, img, backend.ImageOptions{Size: 1}); err != nil {
			t.Fatal(err)
		}
		if err := sess.Trash(ctx, img); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.s.SweepAtStart(ctx); n != 2 {
		t.Fatalf("SweepAtStart() queued %d pool sweeps, want 2", n)
	}
	e.waitPurges()
	e.be.RunTasks()
	if c := e.be.Contents(testCluster, testPool); len(c.Trash) != 1 {
		t.Fatalf("trash of %s: %v, want only the foreign image", testPool, c.Trash)
	}
	if c := e.be.Contents(testCluster, otherPool); len(c.Trash) != 0 {
		t.Fatalf("trash of %s: %v, want empty", otherPool, c.Trash)
	}
}

func TestSweepAtStartNeedsCredentialsAndAPurger(t *testing.T) {
	for _, mod := range []func(*Config){
		func(c *Config) { c.DefaultSecrets = nil },
		func(c *Config) { c.PurgeWorkers = -1 },
	} {
		e := newEnv(t, mod)
		if n := e.s.SweepAtStart(context.Background()); n != 0 {
			t.Fatalf("SweepAtStart() = %d, want 0", n)
		}
	}
}
