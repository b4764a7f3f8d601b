package main

import (
	"fmt"
	"io"
	"time"
)

// Targets at N=200, C=32 (issue 3).
const (
	targetCreateRatio = 0.65
	targetDeleteRatio = 2.0
	targetIdleRSS     = 40 << 20
	targetPeakRSS     = 80 << 20
)

// report is the outcome of a run.
type report struct {
	n, c                     int
	size                     uint64
	features                 string
	create, delete           phaseResult
	floorCreate, floorRemove phaseResult
	rssIdle, rssPeak, hwm    int64
	drain                    time.Duration
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "rbd-bench: N=%d C=%d size=%s features=%s\n\n", r.n, r.c, mib(int64(r.size)), r.features)
	fmt.Fprintf(w, "%-22s %6s %6s %9s %9s %9s %9s %9s %9s\n", "phase", "ops", "failed", "ops/s", "p50", "p95", "p99", "wall", "cpu")
	for _, p := range []struct {
		name string
		res  phaseResult
	}{
		{"driver CreateVolume", r.create}, {"driver DeleteVolume", r.delete},
		{"floor rbd.CreateImage", r.floorCreate}, {"floor rbd.RemoveImage", r.floorRemove},
	} {
		if p.res.ops == 0 {
			continue
		}
		fmt.Fprintf(w, "%-22s %6d %6d %9.1f %9s %9s %9s %9s %9s\n", p.name, p.res.ops, p.res.failed, p.res.rate(),
			ms(p.res.percentile(0.50)), ms(p.res.percentile(0.95)), ms(p.res.percentile(0.99)), ms(p.res.wall), ms(p.res.cpu))
	}
	fmt.Fprintf(w, "(cpu: CPU time of the driver process, or of rbd-bench itself for the floor)\n")
	fmt.Fprintf(w, "\ntrash drained by the mgr %s after the delete phase\n", r.drain.Round(10*time.Millisecond))
	fmt.Fprintf(w, "driver RSS: idle %s (target < %s), peak %s sampled / VmHWM %s (target < %s)\n",
		mib(r.rssIdle), mib(targetIdleRSS), mib(r.rssPeak), mib(r.hwm), mib(targetPeakRSS))
	if r.floorCreate.ops > 0 {
		fmt.Fprintf(w, "ratio create: driver/floor = %.2f (target >= %.2f)\n", ratio(r.create, r.floorCreate), targetCreateRatio)
		fmt.Fprintf(w, "ratio delete: driver/floor = %.2f (target >= %.2f)\n", ratio(r.delete, r.floorRemove), targetDeleteRatio)
	}
}

func ratio(a, b phaseResult) float64 {
	if b.rate() == 0 {
		return 0
	}
	return a.rate() / b.rate()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }

func mib(b int64) string { return fmt.Sprintf("%.1fMiB", float64(b)/(1<<20)) }
