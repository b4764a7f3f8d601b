// Package execx runs external commands for the node service: with the
// caller's context, LC_ALL=C so that messages can be matched, stderr kept
// for errors, and optionally detached into a session of their own (for
// daemons such as ceph-fuse that must outlive the plugin). Runner is an
// interface so that tests can fake the commands.
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

// Cmd is a command to run.
type Cmd struct {
	// Name is the program, looked up in PATH.
	Name string
	// Args are its arguments. They must never hold secrets: they are
	// visible in /proc and in errors.
	Args []string
	// Detach starts the command in a new session (setsid): a daemon it
	// forks is then not in the plugin's process group or session, and
	// signals sent to those do not reach it.
	Detach bool
}

// String returns the command line.
func (c Cmd) String() string {
	return strings.Join(append([]string{c.Name}, c.Args...), " ")
}

// Runner runs commands. Run returns the standard output, and an *ExitError
// when the command ran and failed.
type Runner interface {
	Run(ctx context.Context, c Cmd) ([]byte, error)
}

// ExitError is a command that exited unsuccessfully (or was killed).
type ExitError struct {
	// Cmd is the command line.
	Cmd string
	// Code is the exit status; -1 when killed by a signal.
	Code int
	// Stderr is the command's standard error, trimmed.
	Stderr string
}

// Error implements error.
func (e *ExitError) Error() string {
	msg := fmt.Sprintf("%s: exit status %d", e.Cmd, e.Code)
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}

// waitDelay bounds how long Run waits for output pipes after the command
// exited: a daemon the command forked may hold them open.
const waitDelay = 2 * time.Second

// Exec runs commands for real.
type Exec struct{}

var _ Runner = Exec{}

// Run implements Runner.
func (Exec) Run(ctx context.Context, c Cmd) ([]byte, error) {
	cmd := exec.CommandContext(ctx, c.Name, c.Args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = waitDelay
	if c.Detach {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	}
	err := cmd.Run()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return stdout.Bytes(), &ExitError{Cmd: c.String(), Code: exitErr.ExitCode(), Stderr: strings.TrimSpace(stderr.String())}
	}
	if err != nil && !errors.Is(err, exec.ErrWaitDelay) {
		return stdout.Bytes(), fmt.Errorf("%s: %w", c, err)
	}
	return stdout.Bytes(), nil
}
