package reliability

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	// churnCyclesEnv sets the number of cycles; CEPHFS_CHURN_CYCLES=1000
	// runs the full churn (about 20 minutes here: Ceph's purge is the
	// bottleneck, see TestChurn).
	churnCyclesEnv     = "CEPHFS_CHURN_CYCLES"
	defaultChurnCycles = 100
	// churnBatch is how many cycles run between two waits for Ceph's purge.
	churnBatch = 25
	// churnWarmupMin is the shortest warm-up: the driver's RSS grows by a
	// few MiB over its first 50 cycles while its heap settles.
	churnWarmupMin   = 2 * churnBatch
	churnConcurrency = 8
	// churnRSSGrowth is the largest RSS growth allowed between the end of
	// the warm-up and the end of the churn, in percent.
	churnRSSGrowth = 10
	// purgeTimeout bounds one wait for Ceph's purge (a safety bound).
	purgeTimeout = 5 * time.Minute
)

// TestChurn runs CreateVolume + DeleteVolume cycles at concurrency 8
// through one driver process (100 by default, CEPHFS_CHURN_CYCLES to
// change): every call succeeds; after every 25 cycles the file system is
// back to its starting state, including Ceph's trash of removed
// subvolumes; and the driver's RSS after the churn is at most 10% above
// its RSS after the warm-up (the first tenth of the cycles, at least 50),
// both read while the driver is idle.
//
// The batches exist because Ceph Pacific's mgr purges removed subvolumes
// far slower than the driver removes them (about one a second on the test
// cluster, against ten or more removals a second). An unbounded churn
// would leave hundreds of subvolumes in the trash for many minutes, and a
// subvolume deleted with retained snapshots, anyone's, is only removed
// once its turn in that purge comes.
func TestChurn(t *testing.T) {
	cycles := churnCycles(t)
	warmup := max(churnWarmupMin, (cycles/10+churnBatch-1)/churnBatch*churnBatch)
	r := newRig(t)
	d := r.start("churn")
	pending := r.pendingDeletions()
	start := time.Now()
	var warm int64
	var purgeWait time.Duration
	for done := 0; done < cycles; {
		n := min(churnBatch, cycles-done)
		r.churn(d, done, done+n)
		done += n
		purgeWait += r.waitPurged(pending)
		if done == warmup {
			warm = r.rss(d)
		}
	}
	end := r.rss(d)
	t.Logf("%d cycles at concurrency %d in %.1fs (%.1fs of it waiting for Ceph's purge); driver RSS %.1f MiB after %d cycles, %.1f MiB after %d",
		cycles, churnConcurrency, time.Since(start).Seconds(), purgeWait.Seconds(),
		float64(warm)/float64(mib), min(warmup, cycles), float64(end)/float64(mib), cycles)
	if warm == 0 {
		warm = end // fewer cycles than the warm-up: nothing to compare
	}
	if end*100 > warm*(100+churnRSSGrowth) {
		t.Errorf("driver RSS grew from %d to %d bytes (more than %d%%) over %d cycles",
			warm, end, churnRSSGrowth, cycles-warmup)
	}
	r.waitState("after the churn", state{})
}

func churnCycles(t *testing.T) int {
	v := os.Getenv(churnCyclesEnv)
	if v == "" {
		return defaultChurnCycles
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive number of cycles", churnCyclesEnv, v)
	}
	return n
}

// churn runs cycles [from, to) on churnConcurrency workers; each cycle
// creates a volume and deletes it. The first failure stops the workers and
// fails the test.
func (r *rig) churn(d *driver, from, to int) {
	r.t.Helper()
	var next atomic.Int64
	next.Store(int64(from))
	var failed atomic.Bool
	var wg sync.WaitGroup
	for range churnConcurrency {
		wg.Go(func() {
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= to {
					return
				}
				if err := r.cycle(d, i); err != nil {
					failed.Store(true)
					r.t.Errorf("cycle %d: %v", i, err)
				}
			}
		})
	}
	wg.Wait()
	if failed.Load() {
		r.t.FailNow()
	}
}

// cycle creates volume churn-<i> and deletes it.
func (r *rig) cycle(d *driver, i int) error {
	ctx, cancel := callCtx()
	defer cancel()
	id, err := r.createVolume(fmt.Sprintf("churn-%d", i), mib, nil)(ctx, d.ctrl)
	if err != nil {
		return fmt.Errorf("CreateVolume: %w", err)
	}
	if _, err := r.deleteVolume(id)(ctx, d.ctrl); err != nil {
		return fmt.Errorf("DeleteVolume(%s): %w", id, err)
	}
	return nil
}

// pendingDeletions reads how many removed subvolumes Ceph has yet to purge.
func (r *rig) pendingDeletions() int {
	r.t.Helper()
	ctx, cancel := callCtx()
	defer cancel()
	n, err := r.admin.PendingDeletions(ctx, fsName)
	if err != nil {
		r.t.Fatalf("pending subvolume deletions: %v", err)
	}
	return n
}

// waitPurged waits until Ceph has no more removed subvolumes to purge than
// limit, and returns how long that took.
func (r *rig) waitPurged(limit int) time.Duration {
	r.t.Helper()
	start := time.Now()
	for {
		ctx, cancel := callCtx()
		n, err := r.admin.PendingDeletions(ctx, fsName)
		cancel()
		if err == nil && n <= limit {
			return time.Since(start)
		}
		if time.Since(start) > purgeTimeout {
			r.t.Fatalf("Ceph still has %d removed subvolumes to purge (%d before the churn; read error %v)", n, limit, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// rss reads the driver's resident set size.
func (r *rig) rss(d *driver) int64 {
	r.t.Helper()
	n, err := d.RSS()
	if err != nil {
		r.t.Fatalf("driver RSS: %v", err)
	}
	return n
}
