package reliability

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	churnCycles      = 1000
	churnConcurrency = 8
	// churnWarmup cycles (the first of churnCycles) precede the first RSS
	// sample.
	churnWarmup = 100
	// churnRSSGrowth is the RSS growth allowed from the warm-up to the end.
	churnRSSGrowth = 0.10
)

// TestChurn runs churnCycles CreateVolume/DeleteVolume cycles at
// churnConcurrency through one driver process (flags as the manifests
// ship it). Every call must succeed, the pool must be back to its initial
// state afterwards, and the driver's resident set right after the last
// cycle must be within churnRSSGrowth of the one right after the first
// churnWarmup cycles.
func TestChurn(t *testing.T) {
	t.Parallel() // most of its time is spent waiting for the mgr
	r := newRig(t, driverBinary(t))
	d := r.start("", nil)
	began := time.Now()
	r.churn(d, 0, churnWarmup)
	warm := r.rss(d)
	r.churn(d, churnWarmup, churnCycles)
	after := r.rss(d)
	churned := time.Now()
	r.waitEmpty()
	t.Logf("%d cycles at concurrency %d: %s, then %s until the pool was empty; RSS %.1f MiB after %d cycles, %.1f MiB after %d, %.1f MiB idle",
		churnCycles, churnConcurrency, churned.Sub(began).Round(time.Millisecond), time.Since(churned).Round(time.Millisecond),
		float64(warm)/float64(mib), churnWarmup, float64(after)/float64(mib), churnCycles, float64(r.rss(d))/float64(mib))
	if limit := float64(warm) * (1 + churnRSSGrowth); float64(after) > limit {
		t.Errorf("driver RSS grew from %d to %d bytes between cycle %d and cycle %d (limit %.0f)",
			warm, after, churnWarmup, churnCycles, limit)
	}
	d.stop(t)
}

// churn runs cycles [from, to), churnConcurrency at a time; the first
// failure ends the test.
func (r *rig) churn(d *driver, from, to int) {
	r.t.Helper()
	var next atomic.Int64
	next.Store(int64(from))
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	for range churnConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for failed.Load() == nil {
				i := next.Add(1) - 1
				if i >= int64(to) {
					return
				}
				if err := r.cycle(d, fmt.Sprintf("churn-%d", i)); err != nil {
					failed.CompareAndSwap(nil, &err)
				}
			}
		}()
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		r.t.Fatalf("%v\n%s", *err, d.Log())
	}
}

// cycle creates a volume and deletes it.
func (r *rig) cycle(d *driver, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
	defer cancel()
	resp, err := d.csi.CreateVolume(ctx, r.volReq(name, 8*mib, nil))
	if err != nil {
		return fmt.Errorf("CreateVolume(%s): %w", name, err)
	}
	if _, err := d.csi.DeleteVolume(ctx, r.delVolReq(resp.GetVolume().GetVolumeId())); err != nil {
		return fmt.Errorf("DeleteVolume(%s): %w", name, err)
	}
	return nil
}

func (r *rig) rss(d *driver) int64 {
	r.t.Helper()
	n, err := d.RSS()
	if err != nil {
		r.t.Fatalf("driver RSS: %v", err)
	}
	return n
}
