// Package execx runs the external commands of both node plugins (rbd,
// rbd-fuse, losetup, mkfs, mount, ceph-fuse, ...). It wraps os/exec with
// what every caller needs: a C locale so that output and messages can be
// parsed, the caller's context, stderr captured into a typed *ExitError with
// the exit code, a bound on how long a finished command's output pipes are
// waited for, a way to run a daemonizing command (ceph-fuse) in a session of
// its own, and a way to start a long-running helper (rbd-fuse) that outlives
// a restart of the plugin. Executor is an interface so that tests use Fake.
//
// Callers pass secrets in files, never as arguments: command lines are
// visible in /proc, logged and appear in errors.
package execx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Executor runs commands. The production implementation is OS; tests use
// *Fake.
type Executor interface {
	// Run runs name with args and returns its standard output. A command
	// that cannot be started, fails or is stopped by ctx gives an
	// *ExitError.
	Run(ctx context.Context, name string, args ...string) ([]byte, error)
	// RunDetached is Run for a command that daemonizes (ceph-fuse): it
	// runs in a new session (setsid), so the daemon it forks is not in the
	// plugin's process group or session and signals sent to those do not
	// reach it. Run returns once the command itself exited.
	RunDetached(ctx context.Context, name string, args ...string) ([]byte, error)
	// Start starts a long-running helper detached in a session of its own
	// and returns without waiting for it. The helper is not tied to ctx:
	// it keeps running after the request and after the plugin exits.
	Start(ctx context.Context, h Helper) (*Process, error)
}

// Helper describes a long-running process for Executor.Start.
type Helper struct {
	// Name is the program to run.
	Name string
	// Args are its arguments.
	Args []string
	// LogPath, when set, receives the helper's standard output and error
	// (appended). Empty discards them.
	LogPath string
}

// String returns the command line.
func (h Helper) String() string { return CommandLine(h.Name, h.Args) }

// Process is a started helper.
type Process struct {
	// PID is the helper's process ID.
	PID int

	done chan struct{}
}

// NewProcess returns a Process for pid whose Done channel is closed by
// calling the returned function. Fakes use it.
func NewProcess(pid int) (*Process, func()) {
	p := &Process{PID: pid, done: make(chan struct{})}
	return p, func() { closeOnce(p.done) }
}

// Done is closed once the helper has exited (and was reaped). It only works
// for helpers started by this process; after a plugin restart, check the
// PID instead.
func (p *Process) Done() <-chan struct{} { return p.done }

func closeOnce(c chan struct{}) {
	select {
	case <-c:
	default:
		close(c)
	}
}

// ExitError reports a command that failed. It carries the command line and
// its standard error; commands never get secrets as arguments, so both are
// safe to log.
type ExitError struct {
	// Cmd is the program name.
	Cmd string
	// Args are the arguments.
	Args []string
	// ExitCode is the exit status, or -1 when the command could not be
	// started or was killed.
	ExitCode int
	// Stderr is the command's standard error, trimmed.
	Stderr string
	// Err is the underlying error: from os/exec, or the context's error
	// when the context stopped the command.
	Err error
}

// Error returns "CMD ARGS: exit status N: STDERR".
func (e *ExitError) Error() string {
	var b strings.Builder
	b.WriteString(CommandLine(e.Cmd, e.Args))
	b.WriteString(": ")
	switch {
	case e.ExitCode >= 0:
		fmt.Fprintf(&b, "exit status %d", e.ExitCode)
	case e.Err != nil:
		b.WriteString(e.Err.Error())
	default:
		b.WriteString("failed")
	}
	if e.Stderr != "" {
		b.WriteString(": ")
		b.WriteString(e.Stderr)
	}
	return b.String()
}

// Unwrap returns the underlying error, so that errors.Is(err,
// context.DeadlineExceeded) and errors.Is(err, exec.ErrNotFound) work.
func (e *ExitError) Unwrap() error { return e.Err }

// CommandLine joins name and args with spaces, for logs and errors.
func CommandLine(name string, args []string) string {
	return strings.Join(append([]string{name}, args...), " ")
}

// ExitCode returns the exit status of a failed command in err, or -1 when
// err is not an *ExitError.
func ExitCode(err error) int {
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode
	}
	return -1
}

// waitDelay bounds how long Run waits for the output pipes once the command
// exited (or was killed by ctx): a daemon the command forked may hold them
// open for ever.
const waitDelay = 2 * time.Second

// OS runs commands on this machine.
type OS struct{}

var _ Executor = OS{}

// Run implements Executor.
func (OS) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	return run(ctx, name, args, nil)
}

// RunDetached implements Executor.
func (OS) RunDetached(ctx context.Context, name string, args ...string) ([]byte, error) {
	return run(ctx, name, args, &syscall.SysProcAttr{Setsid: true})
}

// run runs the command with the process attributes attr. A command that
// exited successfully but left a daemon holding its output pipes succeeds
// with the output read until then.
func run(ctx context.Context, name string, args []string, attr *syscall.SysProcAttr) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = environ()
	cmd.SysProcAttr = attr
	cmd.WaitDelay = waitDelay
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err == nil || errors.Is(err, exec.ErrWaitDelay) {
		return stdout.Bytes(), nil
	}
	return stdout.Bytes(), runError(ctx, name, args, err, stderr.String())
}

// runError builds the *ExitError of a failed Run.
func runError(ctx context.Context, name string, args []string, err error, stderr string) error {
	ee := &ExitError{Cmd: name, Args: args, ExitCode: -1, Stderr: strings.TrimSpace(stderr), Err: err}
	var xe *exec.ExitError
	if errors.As(err, &xe) {
		ee.ExitCode = xe.ExitCode()
	}
	if ctx.Err() != nil {
		ee.ExitCode, ee.Err = -1, ctx.Err()
	}
	return ee
}

// Start implements Executor. The helper runs in a new session (setsid), so
// signals sent to the plugin's process group do not reach it, and it is not
// bound to ctx. A goroutine reaps it when it exits, closing Process.Done.
func (OS) Start(ctx context.Context, h Helper) (*Process, error) {
	if err := ctx.Err(); err != nil {
		return nil, &ExitError{Cmd: h.Name, Args: h.Args, ExitCode: -1, Err: err}
	}
	out, err := openLog(h.LogPath)
	if err != nil {
		return nil, err
	}
	defer out.Close()
	cmd := exec.Command(h.Name, h.Args...)
	cmd.Env = environ()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, &ExitError{Cmd: h.Name, Args: h.Args, ExitCode: -1, Err: err}
	}
	p, exited := NewProcess(cmd.Process.Pid)
	go func() {
		_ = cmd.Wait()
		exited()
	}()
	return p, nil
}

// openLog opens path for appending, or /dev/null when path is empty.
func openLog(path string) (*os.File, error) {
	if path == "" {
		path = os.DevNull
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening helper log: %w", err)
	}
	return f, nil
}

// environ returns the plugin's environment with LC_ALL=C, so that the
// output and error messages of commands are not translated.
func environ() []string {
	env := os.Environ()
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "LC_ALL=") {
			out = append(out, kv)
		}
	}
	return append(out, "LC_ALL=C")
}
