package execx

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRunOutputAndLocale(t *testing.T) {
	out, err := Exec{}.Run(context.Background(), Cmd{Name: "sh", Args: []string{"-c", "echo $LC_ALL"}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(out)) != "C" {
		t.Fatalf("LC_ALL = %q, want C", out)
	}
}

func TestRunExitError(t *testing.T) {
	_, err := Exec{}.Run(context.Background(), Cmd{Name: "sh", Args: []string{"-c", "echo oops >&2; exit 3"}})
	var ee *ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("err = %v, want *ExitError", err)
	}
	if ee.Code != 3 || ee.Stderr != "oops" || !strings.Contains(ee.Error(), "exit status 3: oops") {
		t.Fatalf("ExitError = %+v (%v)", ee, ee)
	}
}

func TestRunMissingProgram(t *testing.T) {
	_, err := Exec{}.Run(context.Background(), Cmd{Name: "no-such-program-xyz"})
	var ee *ExitError
	if err == nil || errors.As(err, &ee) {
		t.Fatalf("err = %v, want a non-exit error", err)
	}
}

func TestRunContextKills(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Exec{}.Run(ctx, Cmd{Name: "sleep", Args: []string{"10"}})
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("err = %v after %v, want a prompt failure", err, time.Since(start))
	}
}

// A detached command runs in a session of its own; a daemon it leaves
// behind holding stdout open does not hold Run past the wait delay.
func TestRunDetachedDaemon(t *testing.T) {
	start := time.Now()
	out, err := Exec{}.Run(context.Background(), Cmd{Name: "sh", Args: []string{"-c",
		`sleep 30 & echo $! $$ $(ps -o sid= -p $$)`}, Detach: true})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Run took %v", d)
	}
	f := strings.Fields(string(out))
	if len(f) != 3 {
		t.Fatalf("output %q", out)
	}
	t.Cleanup(func() { _, _ = Exec{}.Run(context.Background(), Cmd{Name: "kill", Args: []string{f[0]}}) })
	if f[1] != f[2] {
		t.Fatalf("shell pid %s has session %s: not the leader of a new session", f[1], f[2])
	}
}

func TestFakeRecords(t *testing.T) {
	f := &Fake{Handler: func(_ context.Context, c Cmd) ([]byte, error) { return []byte(c.Name), nil }}
	out, err := f.Run(context.Background(), Cmd{Name: "x", Args: []string{"a"}})
	if err != nil || string(out) != "x" || len(f.Calls()) != 1 || f.Calls()[0].String() != "x a" {
		t.Fatalf("out %q err %v calls %v", out, err, f.Calls())
	}
}
