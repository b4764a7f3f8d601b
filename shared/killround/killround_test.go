package killround

import (
	"testing"
	"time"
)

// KILL_AT and KILL_KINDS pin the schedule: every kind at every instant,
// in order, then again.
func TestPlanPinned(t *testing.T) {
	t.Setenv("KILL_ROUNDS", "8")
	t.Setenv("KILL_SEED", "42")
	t.Setenv("KILL_AT", "400ms,1s,2s")
	t.Setenv("KILL_KINDS", "creates,deletes")
	got := Plan(t, 3, time.Millisecond, time.Second).Rounds
	want := []struct {
		kind string
		at   time.Duration
	}{{Creates, 400 * time.Millisecond}, {Deletes, 400 * time.Millisecond}, {Creates, time.Second},
		{Deletes, time.Second}, {Creates, 2 * time.Second}, {Deletes, 2 * time.Second},
		{Creates, 400 * time.Millisecond}, {Deletes, 400 * time.Millisecond}}
	if len(got) != len(want) {
		t.Fatalf("%d rounds, want %d", len(got), len(want))
	}
	for i, w := range want {
		if got[i].Kind != w.kind || got[i].KillAfter != w.at || got[i].Seed != 42+int64(i) {
			t.Errorf("round %d: %s, want %s burst, kill after %s, seed %d", i, got[i], w.kind, w.at, 42+i)
		}
	}
}

// The same seed gives the same instants and the same order; they lie in
// the range asked for.
func TestPlanReproducible(t *testing.T) {
	t.Setenv("KILL_SEED", "7")
	a := Plan(t, 5, 50*time.Millisecond, 2500*time.Millisecond).Rounds
	b := Plan(t, 5, 50*time.Millisecond, 2500*time.Millisecond).Rounds
	distinct := map[time.Duration]bool{}
	for i := range a {
		if a[i].KillAfter != b[i].KillAfter {
			t.Errorf("round %d: %s then %s from the same seed", i, a[i].KillAfter, b[i].KillAfter)
		}
		if a[i].KillAfter < 50*time.Millisecond || a[i].KillAfter >= 2500*time.Millisecond {
			t.Errorf("round %d: kill after %s, outside [50ms, 2.5s)", i, a[i].KillAfter)
		}
		distinct[a[i].KillAfter] = true
		x, y := []int{1, 2, 3, 4, 5, 6, 7, 8}, []int{1, 2, 3, 4, 5, 6, 7, 8}
		Shuffle(a[i], x)
		Shuffle(b[i], y)
		for k := range x {
			if x[k] != y[k] {
				t.Fatalf("round %d: shuffles differ: %v, %v", i, x, y)
			}
		}
	}
	if len(distinct) < 2 {
		t.Errorf("every round kills at the same instant: %v", a)
	}
}
