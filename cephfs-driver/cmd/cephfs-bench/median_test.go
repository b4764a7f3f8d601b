package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{0.9}, 0.9},
		{[]float64{0.5, 1.1, 0.7}, 0.7},
		{[]float64{0.4, 0.8, 0.6, 1.0}, 0.7},
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if got := list([]float64{0.5, 1.25}); got != "0.50, 1.25" {
		t.Errorf("list = %q", got)
	}
}

func TestRoundResultPrintsFourPhases(t *testing.T) {
	r := &roundResult{floorCreate: stats{rate: 50}, floorRemove: stats{rate: 40},
		driverCreate: stats{rate: 45}, driverDelete: stats{rate: 60}}
	var out bytes.Buffer
	r.print(&out, 8, 2)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[2], "driver  8   2     create       45.0") {
		t.Fatalf("printed:\n%s", out.String())
	}
}
