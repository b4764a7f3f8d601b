package driverproc

import (
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// When serveEnv is set, the test binary plays a driver: it listens on the
// --endpoint socket, prints a log line and waits to be killed.
const serveEnv = "DRIVERPROC_TEST_SERVE"

func TestMain(m *testing.M) {
	if os.Getenv(serveEnv) == "1" {
		for _, a := range os.Args[1:] {
			if s, ok := strings.CutPrefix(a, "--endpoint=unix://"); ok {
				l, err := net.Listen("unix", s)
				if err != nil {
					os.Exit(3)
				}
				os.Stderr.WriteString("serving " + s + "\n")
				for {
					c, err := l.Accept()
					if err == nil {
						_ = c.Close()
					}
				}
			}
		}
		os.Exit(4)
	}
	os.Exit(m.Run())
}

func self(t *testing.T) string {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

func TestStartServesKillAndRestart(t *testing.T) {
	p := Start(t, Options{Binary: self(t), Env: []string{serveEnv + "=1"}})
	if !strings.Contains(p.Log(), "serving "+p.Socket) {
		t.Fatalf("log = %q", p.Log())
	}
	if rss, err := p.RSS(); err != nil || rss <= 0 {
		t.Fatalf("RSS = %d, %v", rss, err)
	}
	found := false
	for pid, args := range Cmdlines() {
		if pid == p.PID() && strings.HasPrefix(args[len(args)-1], "--endpoint=unix://") {
			found = true
		}
	}
	if !found {
		t.Fatal("Cmdlines does not show the child's arguments")
	}
	p.Kill()
	if !p.Killed() {
		t.Fatal("Killed() = false after SIGKILL")
	}
	q := Start(t, Options{Binary: self(t), Env: []string{serveEnv + "=1"}, Socket: p.Socket})
	if q.Killed() || q.WaitExit(50*time.Millisecond) {
		t.Fatal("restarted process is not running")
	}
}

func TestBinaryFromEnv(t *testing.T) {
	t.Setenv("DRIVERPROC_TEST_BINARY", self(t))
	if got := Binary(t, "DRIVERPROC_TEST_BINARY", ".", "./nothing", ""); got != self(t) {
		t.Fatalf("Binary = %q", got)
	}
}
