package cephrbdtest

import (
	"encoding/json"
	"fmt"
	"time"
)

// WaitPGRemoval waits until no OSD is still removing the placement groups
// of a deleted pool, and returns how long that took. A benchmark calls it
// before each measured phase: the removal of a pool deleted just before
// (by a test, or the previous run) keeps the OSD busy for a minute or
// more and would slow whichever phase runs first.
func (a *Admin) WaitPGRemoval(timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	for {
		removing, err := a.removingPGs()
		if err != nil {
			return time.Since(start), err
		}
		if removing == 0 {
			return time.Since(start), nil
		}
		if time.Since(start) > timeout {
			return time.Since(start), fmt.Errorf("the OSDs still remove %d placement groups after %s", removing, timeout)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// removingPGs sums the OSDs' numpg_removing counters.
func (a *Admin) removingPGs() (int, error) {
	body, _ := json.Marshal(map[string]string{"prefix": "osd ls", "format": "json"})
	out, info, err := a.conn.MonCommand(body)
	if err != nil {
		return 0, fmt.Errorf("osd ls: %w: %s", err, info)
	}
	var osds []int
	if err := json.Unmarshal(out, &osds); err != nil {
		return 0, fmt.Errorf("osd ls: %w", err)
	}
	total := 0
	for _, id := range osds {
		out, info, err := a.conn.OsdCommand(id, [][]byte{[]byte(`{"prefix": "perf dump"}`)})
		if err != nil {
			return 0, fmt.Errorf("osd.%d perf dump: %w: %s", id, err, info)
		}
		var perf struct {
			OSD struct {
				Removing int `json:"numpg_removing"`
			} `json:"osd"`
		}
		if err := json.Unmarshal(out, &perf); err != nil {
			return 0, fmt.Errorf("osd.%d perf dump: %w", id, err)
		}
		total += perf.OSD.Removing
	}
	return total, nil
}
