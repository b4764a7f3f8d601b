package main

import (
	"bytes"
	"strings"
	"testing"
)

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
