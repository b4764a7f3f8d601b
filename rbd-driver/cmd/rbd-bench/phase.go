package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
)

// phaseResult is the outcome of one phase.
type phaseResult struct {
	ops       int
	failed    int
	wall      time.Duration
	latencies []time.Duration
	err       error
	// cpu is the CPU time the measured process (the driver, or the
	// benchmark itself for the floor) used during the phase.
	cpu time.Duration
}

// rate is operations per second.
func (p phaseResult) rate() float64 {
	if p.wall <= 0 {
		return 0
	}
	return float64(p.ops-p.failed) / p.wall.Seconds()
}

// percentile returns the q-quantile (0 < q <= 1) of the latencies.
func (p phaseResult) percentile(q float64) time.Duration {
	if len(p.latencies) == 0 {
		return 0
	}
	i := int(q*float64(len(p.latencies))+0.5) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(p.latencies) {
		i = len(p.latencies) - 1
	}
	return p.latencies[i]
}

// perOpTimeout bounds one operation.
const perOpTimeout = 5 * time.Minute

// runPhase runs op for i in [0, n) on c workers, times each call and the
// CPU time process pid used meanwhile.
func runPhase(ctx context.Context, pid, n, c int, op func(ctx context.Context, i int) error) phaseResult {
	res := phaseResult{ops: n, latencies: make([]time.Duration, 0, n)}
	cpu0 := cpu(pid)
	var mu sync.Mutex
	var errs []error
	next := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				opCtx, cancel := context.WithTimeout(ctx, perOpTimeout)
				t0 := time.Now()
				err := op(opCtx, i)
				d := time.Since(t0)
				cancel()
				mu.Lock()
				res.latencies = append(res.latencies, d)
				if err != nil {
					res.failed++
					if len(errs) < 5 {
						errs = append(errs, fmt.Errorf("op %d: %w", i, err))
					}
				}
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	res.wall = time.Since(start)
	sort.Slice(res.latencies, func(i, k int) bool { return res.latencies[i] < res.latencies[k] })
	if len(errs) > 0 {
		res.err = fmt.Errorf("%d of %d failed, first: %w", res.failed, n, errors.Join(errs...))
	}
	res.cpu = cpu(pid) - cpu0
	return res
}
