package crashpoint

import "testing"

func arm(t *testing.T, step string, n int) *int {
	t.Helper()
	oldArmed, oldSkip, oldKill := armed, skip, kill
	t.Cleanup(func() { armed, skip, kill = oldArmed, oldSkip, oldKill })
	kills := 0
	armed, skip = step, n
	kill = func() { kills++; panic("killed") }
	return &kills
}

func hit(step string) (killed bool) {
	defer func() {
		if recover() != nil {
			killed = true
		}
	}()
	Hit(step)
	return false
}

func TestUnarmedNeverKills(t *testing.T) {
	kills := arm(t, "", 0)
	if hit("create.after-reserve") || *kills != 0 {
		t.Fatal("an unarmed process crashed")
	}
}

func TestKillsOnlyAtTheArmedStep(t *testing.T) {
	kills := arm(t, "b", 0)
	if hit("a") {
		t.Fatal("crashed at another step")
	}
	if !hit("b") || *kills != 1 {
		t.Fatalf("did not crash at the armed step (kills=%d)", *kills)
	}
}

func TestSkipLetsHitsPass(t *testing.T) {
	kills := arm(t, "b", 2)
	if hit("b") || hit("b") {
		t.Fatal("crashed before the skip count was used up")
	}
	if !hit("b") || *kills != 1 {
		t.Fatal("did not crash after the skipped hits")
	}
}

func TestParseSkip(t *testing.T) {
	for in, want := range map[string]int{"": 0, "3": 3, "-1": 0, "x": 0} {
		if got := parseSkip(in); got != want {
			t.Errorf("parseSkip(%q) = %d, want %d", in, got, want)
		}
	}
}
