// Package driverproc runs a driver binary as a child process for tests that
// must kill it for real (crash, restart, RSS and secrets checks).
//
// Binary returns the binary to run: the path in an environment variable (the
// Makefile points it at bin/) or, when unset, a fresh `go build` of the
// module's command into the test's temp directory.
package driverproc

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Binary returns the path in env, or builds pkg (a package path relative to
// the module directory moduleDir, e.g. "./cmd/rbd-driver") with buildTags.
func Binary(t testing.TB, env, moduleDir, pkg, buildTags string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s=%s: %v", env, p, err)
		}
		return p
	}
	out := filepath.Join(t.TempDir(), filepath.Base(pkg))
	args := []string{"build", "-o", out}
	if buildTags != "" {
		args = append(args, "-tags", buildTags)
	}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Dir = moduleDir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// Proc is a running driver process. Its stderr (the log) is kept in memory.
type Proc struct {
	Socket string
	cmd    *exec.Cmd
	log    *syncBuffer
	done   chan struct{}
	err    error
}

// Options start a Proc.
type Options struct {
	Binary string
	// Args are the driver's arguments except --endpoint, which Start adds.
	Args []string
	// Env is added to the test's environment (KEY=VALUE).
	Env []string
	// Socket is the unix socket path; default a new one in a temp dir.
	Socket string
	// StartTimeout bounds the wait for the socket; default 30 s.
	StartTimeout time.Duration
}

// Start runs the binary with --endpoint unix://<socket> and waits until the
// socket accepts connections. The process is killed when the test ends.
func Start(t testing.TB, o Options) *Proc {
	t.Helper()
	if o.Socket == "" {
		dir, err := os.MkdirTemp("", "drv") // short: unix socket paths are limited to 108 bytes
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.RemoveAll(dir) })
		o.Socket = filepath.Join(dir, "csi.sock")
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 30 * time.Second
	}
	_ = os.Remove(o.Socket)
	p := &Proc{Socket: o.Socket, log: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(o.Binary, append([]string{"--endpoint=unix://" + o.Socket}, o.Args...)...)
	p.cmd.Env = append(os.Environ(), o.Env...)
	p.cmd.Stdout = p.log
	p.cmd.Stderr = p.log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", o.Binary, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.Kill() })
	deadline := time.Now().Add(o.StartTimeout)
	for {
		if c, err := dialUnix(o.Socket); err == nil {
			_ = c.Close()
			return p
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited before serving: %v\n%s", o.Binary, p.err, p.Log())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: socket %s not ready after %s\n%s", o.Binary, o.Socket, o.StartTimeout, p.Log())
		}
	}
}

// Conn dials the process's socket; the connection is closed when the test
// ends.
func (p *Proc) Conn(t testing.TB) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+p.Socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// PID is the process ID.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Log returns everything the process wrote so far.
func (p *Proc) Log() string { return p.log.String() }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Killed reports whether the process has exited by SIGKILL.
func (p *Proc) Killed() bool {
	select {
	case <-p.done:
	default:
		return false
	}
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// WaitExit waits up to d for the process to exit and reports whether it did.
func (p *Proc) WaitExit(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// Kill sends SIGKILL to the driver (not to the helpers it started, which
// live in their own sessions) and waits for it to exit.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Stop sends SIGTERM and waits up to d for a clean exit, then kills.
func (p *Proc) Stop(d time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if p.WaitExit(d) {
		return p.err
	}
	p.Kill()
	return fmt.Errorf("did not exit within %s of SIGTERM", d)
}

// RSS returns the process's resident set size in bytes (VmRSS).
func (p *Proc) RSS() (int64, error) { return RSSOf(p.PID()) }

// RSSOf reads VmRSS of pid from /proc.
func RSSOf(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) < 1 {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, err
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// Cmdlines returns the argument lists of every process on the host, by PID
// (for checks that no secret reached a command line).
func Cmdlines() map[int][]string {
	out := map[int][]string{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		out[pid] = strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	}
	return out
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func dialUnix(socket string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var d net.Dialer
	return d.DialContext(ctx, "unix", socket)
}
