package main

import (
	"fmt"
	"io"
	"time"

	"github.com/seed-6a310834/ceph-csi/shared/benchstat"
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
	n, c                  int
	size                  uint64
	features              string
	rounds                []*round
	rssIdle, rssPeak, hwm int64
}

// round is one round's phases.
type round struct {
	create, delete           phaseResult
	floorCreate, floorRemove phaseResult
	// drain is how long the mgr took to purge the trash after the delete
	// phase; settleDriver and settleFloor are the waits, before each
	// side's phases, for a quiet cluster.
	drain, settleDriver, settleFloor time.Duration
	// floorFirst is set when the floor's phases ran before the driver's.
	floorFirst bool
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "rbd-bench: N=%d C=%d size=%s features=%s, %d round(s)\n", r.n, r.c, mib(int64(r.size)), r.features, len(r.rounds))
	for i, rd := range r.rounds {
		order := "driver first"
		if rd.floorFirst {
			order = "floor first"
		}
		fmt.Fprintf(w, "\nround %d, %s (waited %s for a quiet cluster before the driver, %s before the floor; trash drained %s after the delete phase)\n",
			i+1, order, rd.settleDriver.Round(10*time.Millisecond), rd.settleFloor.Round(10*time.Millisecond), rd.drain.Round(10*time.Millisecond))
		rd.print(w)
	}
	fmt.Fprintf(w, "(cpu: CPU time of the driver process, or of rbd-bench itself for the floor; quiet: deleted pools removed and the Ceph daemons idle)\n\n")
	fmt.Fprintf(w, "driver RSS: idle %s (target < %s), peak %s sampled / VmHWM %s (target < %s)\n",
		mib(r.rssIdle), mib(targetIdleRSS), mib(r.rssPeak), mib(r.hwm), mib(targetPeakRSS))
	creates, deletes := r.ratios()
	if len(creates) > 0 {
		fmt.Fprintf(w, "ratio create: driver/floor = %.2f, the median of %s (target >= %.2f)\n", benchstat.Median(creates), benchstat.List(creates), targetCreateRatio)
		fmt.Fprintf(w, "ratio delete: driver/floor = %.2f, the median of %s (target >= %.2f)\n", benchstat.Median(deletes), benchstat.List(deletes), targetDeleteRatio)
	}
}

func (rd *round) print(w io.Writer) {
	fmt.Fprintf(w, "%-22s %6s %6s %9s %9s %9s %9s %9s %9s\n", "phase", "ops", "failed", "ops/s", "p50", "p95", "p99", "wall", "cpu")
	for _, p := range []struct {
		name string
		res  phaseResult
	}{
		{"driver CreateVolume", rd.create}, {"driver DeleteVolume", rd.delete},
		{"floor rbd.CreateImage", rd.floorCreate}, {"floor rbd.RemoveImage", rd.floorRemove},
	} {
		if p.res.ops == 0 {
			continue
		}
		fmt.Fprintf(w, "%-22s %6d %6d %9.1f %9s %9s %9s %9s %9s\n", p.name, p.res.ops, p.res.failed, p.res.rate(),
			ms(p.res.percentile(0.50)), ms(p.res.percentile(0.95)), ms(p.res.percentile(0.99)), ms(p.res.wall), ms(p.res.cpu))
	}
}

// ratios returns the create and delete ratios of the rounds that measured
// the floor.
func (r *report) ratios() (creates, deletes []float64) {
	for _, rd := range r.rounds {
		if rd.floorCreate.ops > 0 {
			creates = append(creates, ratio(rd.create, rd.floorCreate))
			deletes = append(deletes, ratio(rd.delete, rd.floorRemove))
		}
	}
	return creates, deletes
}

func ratio(a, b phaseResult) float64 {
	if b.rate() == 0 {
		return 0
	}
	return a.rate() / b.rate()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }

func mib(b int64) string { return fmt.Sprintf("%.1fMiB", float64(b)/(1<<20)) }
