package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// phase is a result of ops operations in wall time.
func phase(ops int, wall time.Duration) phaseResult {
	return phaseResult{ops: ops, wall: wall, latencies: []time.Duration{wall}}
}

func TestReportPrintsEachRoundAndTheMedianRatios(t *testing.T) {
	rep := &report{n: 200, c: 32, size: 1 << 30, features: "layering"}
	for i, driverWall := range []time.Duration{time.Second, 2 * time.Second, 500 * time.Millisecond} {
		rep.rounds = append(rep.rounds, &round{floorFirst: i == 1,
			create: phase(200, driverWall), delete: phase(200, time.Second),
			floorCreate: phase(200, time.Second), floorRemove: phase(200, 4*time.Second),
		})
	}
	var out bytes.Buffer
	rep.print(&out)
	for _, want := range []string{
		"3 round(s)", "round 1, driver first", "round 2, floor first", "round 3, driver first",
		"ratio create: driver/floor = 1.00, the median of 1.00, 0.50, 2.00",
		"ratio delete: driver/floor = 4.00, the median of 4.00, 4.00, 4.00",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestReportWithoutFloorPrintsNoRatio(t *testing.T) {
	rep := &report{n: 1, c: 1, rounds: []*round{{create: phase(1, time.Second), delete: phase(1, time.Second)}}}
	var out bytes.Buffer
	rep.print(&out)
	if strings.Contains(out.String(), "ratio") {
		t.Errorf("a run without the floor printed a ratio:\n%s", out.String())
	}
}
