package execx

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	utilexec "k8s.io/utils/exec"
)

func TestRunOutputAndLocale(t *testing.T) {
	t.Setenv("LC_ALL", "de_DE.UTF-8")
	out, err := OS{}.Run(context.Background(), "sh", "-c", `printf '%s' "$LC_ALL"; echo ignored >&2`)
	if err != nil {
		t.Fatalf("Run() error = %v", err)
	}
	if string(out) != "C" {
		t.Fatalf("Run() stdout = %q; want LC_ALL=C in the environment", out)
	}
}

func TestRunExitError(t *testing.T) {
	_, err := OS{}.Run(context.Background(), "sh", "-c", "echo out; echo ' boom ' >&2; exit 3")
	var ee *ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("Run() error = %T %v; want *ExitError", err, err)
	}
	if ee.Cmd != "sh" || ee.ExitCode != 3 || ee.Stderr != "boom" || len(ee.Args) != 2 {
		t.Fatalf("ExitError = %+v", ee)
	}
	want := "sh -c echo out; echo ' boom ' >&2; exit 3: exit status 3: boom"
	if err.Error() != want {
		t.Fatalf("Error() = %q; want %q", err.Error(), want)
	}
	if ExitCode(err) != 3 || ExitCode(errors.New("x")) != -1 {
		t.Fatal("ExitCode() mismatch")
	}
}

func TestRunNotFound(t *testing.T) {
	_, err := OS{}.Run(context.Background(), "/nonexistent/tool", "a")
	var ee *ExitError
	if !errors.As(err, &ee) || ee.ExitCode != -1 {
		t.Fatalf("Run() error = %v; want *ExitError with code -1", err)
	}
	if !errors.Is(err, os.ErrNotExist) && !errors.Is(err, exec.ErrNotFound) {
		t.Fatalf("Run() error = %v; want it to wrap the start error", err)
	}
}

func TestRunContextDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := OS{}.Run(ctx, "sleep", "10")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run() error = %v; want DeadlineExceeded", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("Run() did not stop the command at the deadline")
	}
	if !strings.Contains(err.Error(), "sleep 10: context deadline exceeded") {
		t.Fatalf("Error() = %q", err)
	}
}

// sessionOf runs a shell through run that prints the PID of a background
// sleep it leaves holding stdout (when daemon), its own PID and its session.
func sessionOf(t *testing.T, run func(context.Context, string, ...string) ([]byte, error), daemon bool) (shell, sid string) {
	t.Helper()
	script := `echo $$ $(ps -o sid= -p $$)`
	if daemon {
		script = `sleep 30 & echo $$ $(ps -o sid= -p $$) $!`
	}
	start := time.Now()
	out, err := run(context.Background(), "sh", "-c", script)
	if err != nil {
		t.Fatalf("Run() error = %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Run() took %v: the daemon's open stdout held it", d)
	}
	f := strings.Fields(string(out))
	if daemon && len(f) == 3 {
		t.Cleanup(func() { _, _ = OS{}.Run(context.Background(), "kill", f[2]) })
	}
	if len(f) < 2 {
		t.Fatalf("output %q", out)
	}
	return f[0], f[1]
}

// A detached command runs in a session of its own; a daemon it leaves
// behind holding stdout open does not hold Run past the wait delay.
func TestRunDetachedDaemon(t *testing.T) {
	if shell, sid := sessionOf(t, OS{}.RunDetached, true); shell != sid {
		t.Fatalf("shell pid %s has session %s: not the leader of a new session", shell, sid)
	}
}

// Run keeps the command in the plugin's session.
func TestRunNotDetached(t *testing.T) {
	if shell, sid := sessionOf(t, OS{}.Run, false); shell == sid {
		t.Fatalf("shell pid %s leads its own session: Run must not detach", shell)
	}
}

func TestRunDetachedExitError(t *testing.T) {
	_, err := OS{}.RunDetached(context.Background(), "sh", "-c", "echo oops >&2; exit 3")
	var ee *ExitError
	if !errors.As(err, &ee) || ee.ExitCode != 3 || ee.Stderr != "oops" || !strings.Contains(err.Error(), "exit status 3: oops") {
		t.Fatalf("RunDetached() error = %v; want an *ExitError with status 3 and stderr", err)
	}
}

func TestStartDetachedHelper(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "helper.log")
	ctx, cancel := context.WithCancel(context.Background())
	p, err := OS{}.Start(ctx, Helper{Name: "sh", Args: []string{"-c", "echo started; echo $LC_ALL; exec sleep 30"}, LogPath: logPath})
	if err != nil {
		t.Fatalf("Start() error = %v", err)
	}
	t.Cleanup(func() { _ = syscall.Kill(p.PID, syscall.SIGKILL); <-p.Done() })
	cancel() // the helper must not be tied to the request's context

	sid, err := unix.Getsid(p.PID)
	if err != nil || sid != p.PID {
		t.Fatalf("helper session = %d, %v; want its own session %d", sid, err, p.PID)
	}
	waitFor(t, func() bool {
		b, _ := os.ReadFile(logPath)
		return string(b) == "started\nC\n"
	})
	select {
	case <-p.Done():
		t.Fatal("helper exited when the start context was cancelled")
	case <-time.After(100 * time.Millisecond):
	}
	if err := syscall.Kill(p.PID, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done() not closed after the helper exited")
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(p.PID)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("helper %d was not reaped: %v", p.PID, err)
	}
}

func TestStartErrors(t *testing.T) {
	if _, err := (OS{}).Start(context.Background(), Helper{Name: "/nonexistent/helper"}); err == nil {
		t.Fatal("Start() of a missing program succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (OS{}).Start(ctx, Helper{Name: "true"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Start() with a cancelled context = %v", err)
	}
	if _, err := (OS{}).Start(context.Background(), Helper{Name: "true", LogPath: "/nonexistent/dir/log"}); err == nil {
		t.Fatal("Start() with an unwritable log succeeded")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFake(t *testing.T) {
	f := NewFake()
	f.On("rbd device map", Result{Stdout: "/dev/rbd0\n"})
	f.On("rbd device map pool/bad", Result{ExitCode: 22, Stderr: "rbd: map failed"})
	var seen string
	f.OnFunc("losetup", func(c Call) Result { seen = c.Args[0]; return Result{Stdout: "/dev/loop3"} })

	ctx := context.Background()
	if out, err := f.Run(ctx, "rbd", "device", "map", "pool/img"); err != nil || string(out) != "/dev/rbd0\n" {
		t.Fatalf("Run() = %q, %v", out, err)
	}
	_, err := f.Run(ctx, "rbd", "device", "map", "pool/bad")
	if ExitCode(err) != 22 || !strings.Contains(err.Error(), "rbd: map failed") {
		t.Fatalf("Run() error = %v", err)
	}
	if out, _ := f.Run(ctx, "losetup", "--find"); string(out) != "/dev/loop3" || seen != "--find" {
		t.Fatalf("OnFunc not applied: %q %q", out, seen)
	}
	if out, err := f.Run(ctx, "other"); err != nil || len(out) != 0 {
		t.Fatalf("unmatched Run() = %q, %v", out, err)
	}
	if out, err := f.RunDetached(ctx, "rbd", "device", "map", "pool/img"); err != nil || string(out) != "/dev/rbd0\n" {
		t.Fatalf("RunDetached() = %q, %v", out, err)
	}
	p, err := f.Start(ctx, Helper{Name: "rbd-fuse", Args: []string{"-f"}, LogPath: "/x"})
	if err != nil || p.PID != 1000 {
		t.Fatalf("Start() = %+v, %v", p, err)
	}
	f.Exit(p.PID)
	f.Exit(p.PID)
	<-p.Done()
	want := []string{"rbd device map pool/img", "rbd device map pool/bad", "losetup --find", "other",
		"rbd device map pool/img", "rbd-fuse -f"}
	if got := f.CommandLines(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("CommandLines() = %q; want %q", got, want)
	}
	calls := f.Calls()
	if c := calls[5]; !c.Started || c.Detached || c.LogPath != "/x" {
		t.Fatalf("Start call = %+v", c)
	}
	if c := calls[4]; !c.Detached || c.Started {
		t.Fatalf("RunDetached call = %+v", c)
	}
	if c := calls[0]; c.Detached || c.Started {
		t.Fatalf("Run call = %+v", c)
	}
	f.Reset()
	if len(f.Calls()) != 0 {
		t.Fatal("Reset() kept calls")
	}
	f.On("rbd-fuse", Result{ExitCode: 1})
	if _, err := f.Start(ctx, Helper{Name: "rbd-fuse"}); err == nil {
		t.Fatal("scripted Start() failure ignored")
	}
}

// The zero Fake works; the rule "" answers every command; a cancelled
// context fails the command with the context's error.
func TestFakeZeroValue(t *testing.T) {
	var f Fake
	var seen []string
	f.OnFunc("", func(c Call) Result {
		seen = append(seen, c.String())
		return Result{ExitCode: 32, Stderr: "no such device"}
	})
	_, err := f.RunDetached(context.Background(), "ceph-fuse", "/mnt")
	var ee *ExitError
	if !errors.As(err, &ee) || ee.ExitCode != 32 || ee.Stderr != "no such device" || ee.Cmd != "ceph-fuse" {
		t.Fatalf("RunDetached() error = %v", err)
	}
	if strings.Join(seen, "|") != "ceph-fuse /mnt" {
		t.Fatalf("catch-all rule saw %q", seen)
	}
	p, err := f.Start(context.Background(), Helper{Name: "x"})
	if err == nil || p != nil {
		t.Fatalf("Start() = %v, %v; want the catch-all's failure", p, err)
	}
	f.On("x", Result{})
	if p, err := f.Start(context.Background(), Helper{Name: "x"}); err != nil || p.PID != 1000 {
		t.Fatalf("Start() on a zero Fake = %+v, %v", p, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.Run(ctx, "x"); !errors.Is(err, context.Canceled) || ExitCode(err) != -1 {
		t.Fatalf("Run() with a cancelled context = %v", err)
	}
	if n := len(f.Calls()); n != 4 {
		t.Fatalf("recorded %d calls, want 4", n)
	}
}

func TestK8sAdapter(t *testing.T) {
	f := NewFake()
	f.On("blkid", Result{ExitCode: 2})
	f.On("resize2fs", Result{Stdout: "resizing", ExitCode: 1, Stderr: "Permission denied"})
	f.On("fsck", Result{Stdout: "clean\n"})
	k := K8s(context.Background(), f)

	_, err := k.Command("blkid", "-p", "/dev/loop0").CombinedOutput()
	var ee utilexec.ExitError
	if !errors.As(err, &ee) || ee.ExitStatus() != 2 {
		t.Fatalf("blkid error = %#v; want an ExitError with status 2", err)
	}
	out, err := k.Command("resize2fs", "/dev/loop0").CombinedOutput()
	if string(out) != "resizing\nPermission denied" || err == nil {
		t.Fatalf("CombinedOutput() = %q, %v", out, err)
	}
	if out, err := k.Command("fsck", "-a").Output(); string(out) != "clean\n" || err != nil {
		t.Fatalf("Output() = %q, %v", out, err)
	}
	if err := k.CommandContext(context.Background(), "true").Run(); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	if got := strings.Join(f.CommandLines(), "|"); got != "blkid -p /dev/loop0|resize2fs /dev/loop0|fsck -a|true" {
		t.Fatalf("commands = %q", got)
	}
	if _, err := K8s(context.Background(), OS{}).Command("/nonexistent/fsck").CombinedOutput(); err != utilexec.ErrExecutableNotFound {
		t.Fatalf("missing program error = %v; want ErrExecutableNotFound", err)
	}
	if _, err := k.LookPath("sh"); err != nil {
		t.Fatal(err)
	}
	cmd := k.Command("x")
	cmd.SetDir("/")
	cmd.SetEnv(nil)
	cmd.SetStdin(nil)
	cmd.SetStdout(nil)
	cmd.SetStderr(nil)
	cmd.Stop()
	if cmd.Start() == nil || cmd.Wait() == nil {
		t.Fatal("Start/Wait should be unsupported")
	}
	if _, err := cmd.StdoutPipe(); err == nil {
		t.Fatal("StdoutPipe should be unsupported")
	}
	if _, err := cmd.StderrPipe(); err == nil {
		t.Fatal("StderrPipe should be unsupported")
	}
}
