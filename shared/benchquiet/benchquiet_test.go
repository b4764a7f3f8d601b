package benchquiet

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func writeProc(t *testing.T, proc string, pid, comm string, utime, stime int) {
	t.Helper()
	if err := fakeProcess(proc, pid, comm, utime, stime); err != nil {
		t.Fatal(err)
	}
}

// fakeProcess writes the comm and stat files of a process under proc.
func fakeProcess(proc string, pid, comm string, utime, stime int) error {
	dir := filepath.Join(proc, pid)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	stat := pid + " (" + comm + ") S 1 1 1 0 -1 4194560 100 0 0 0 " +
		strconv.Itoa(utime) + " " + strconv.Itoa(stime) + " 0 0 20 0 30 0 1 0 0 0\n"
	if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "comm"), []byte(comm+"\n"), 0o644)
}

func TestCPUTicksSumsOnlyDaemons(t *testing.T) {
	proc := t.TempDir()
	writeProc(t, proc, "10", "ceph-osd", 120, 30)
	writeProc(t, proc, "11", "ceph-mgr", 5, 5)
	writeProc(t, proc, "12", "bash", 999, 999)
	got, ok := cpuTicks(proc)
	if !ok || got != 160 {
		t.Fatalf("cpuTicks = %d, %v; want 160 from the two daemons", got, ok)
	}
	if _, ok := cpuTicks(t.TempDir()); ok {
		t.Fatal("cpuTicks found daemons in an empty proc")
	}
}

func TestStatTicksWithSpacesInTheName(t *testing.T) {
	if got, ok := statTicks("42 (a (b) c) S 1 1 1 0 -1 0 0 0 0 0 7 8 0 0"); !ok || got != 15 {
		t.Fatalf("statTicks = %d, %v; want 15", got, ok)
	}
	if _, ok := statTicks("garbage"); ok {
		t.Fatal("statTicks accepted garbage")
	}
}

func TestWaitWithoutDaemonsReturnsAtOnce(t *testing.T) {
	d, err := Wait(Options{Proc: t.TempDir()})
	if err != nil || d != 0 {
		t.Fatalf("Wait = %v, %v", d, err)
	}
}

func TestWaitQuietAndBusy(t *testing.T) {
	proc := t.TempDir()
	writeProc(t, proc, "10", "ceph-osd", 100, 0)
	if _, err := Wait(Options{Proc: proc, Seconds: 1}); err != nil {
		t.Fatalf("an idle daemon: %v", err)
	}
	// A daemon whose CPU time grows by a whole core every half second.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		ticks := 100
		for {
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Millisecond):
				ticks += 50
				_ = fakeProcess(proc, "10", "ceph-osd", ticks, 0)
			}
		}
	}()
	if _, err := Wait(Options{Proc: proc, Seconds: 2, Timeout: 2 * time.Second}); err == nil {
		t.Fatal("a busy daemon counted as quiet")
	}
}
