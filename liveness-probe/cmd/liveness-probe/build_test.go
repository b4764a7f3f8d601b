package main

// Build-level checks: the module must stay pure Go and independent of Ceph,
// and the binary must be a small static executable.

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seed-6a310834/ceph-csi/liveness-probe/internal/csitest"
)

const (
	modulePath   = "github.com/seed-6a310834/ceph-csi/liveness-probe"
	sharedModule = "github.com/seed-6a310834/ceph-csi/shared"
	goCeph       = "github.com/ceph/go-ceph"
	maxSize      = 15_000_000 // bytes, stripped (15 MB)
)

// goBinary returns the go command, skipping the test if there is none.
func goBinary(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		if p := filepath.Join(os.Getenv("GOROOT"), "bin", "go"); os.Getenv("GOROOT") != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
		t.Skip("go binary not found; skipping build checks")
	}
	return goBin
}

// moduleDir is the liveness-probe module root (this package is cmd/liveness-probe).
func moduleDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil || !strings.Contains(string(b), "module "+modulePath+"\n") {
		t.Fatalf("%s is not the liveness-probe module root (err %v)", dir, err)
	}
	return dir
}

func goCmd(t *testing.T, env []string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(goBinary(t), args...)
	cmd.Dir = moduleDir(t)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s go %s: %v\n%s", strings.Join(env, " "), strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// TestGoModIsIndependent: no requirement on the shared module or go-ceph.
func TestGoModIsIndependent(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(moduleDir(t), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{sharedModule, goCeph} {
		if bytes.Contains(b, []byte(bad)) {
			t.Errorf("go.mod mentions %s; liveness-probe must stay independent of it", bad)
		}
	}
}

// TestNoCephNoCgoDependencies lists every package the module's packages
// depend on and fails on go-ceph, the shared module, or any cgo package.
func TestNoCephNoCgoDependencies(t *testing.T) {
	goBinary(t)
	const format = `{{.ImportPath}} {{.Standard}} {{.CgoFiles}}`
	for _, tc := range []struct {
		name string
		env  []string
	}{
		// What the release build sees (workspace mode, cgo off).
		{"workspace CGO_ENABLED=0", []string{"CGO_ENABLED=0"}},
		// The module on its own go.mod/go.sum, without the workspace.
		{"GOWORK=off CGO_ENABLED=0", []string{"CGO_ENABLED=0", "GOWORK=off"}},
		// With cgo on, cgo files are not filtered out by build constraints,
		// so a non-standard dependency with cgo code would show up here.
		{"workspace CGO_ENABLED=1", []string{"CGO_ENABLED=1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := goCmd(t, tc.env, "list", "-deps", "-f", format, "./...")
			n := 0
			sc := bufio.NewScanner(bytes.NewReader(out))
			for sc.Scan() {
				fields := strings.SplitN(sc.Text(), " ", 3)
				if len(fields) != 3 {
					t.Fatalf("unexpected go list line %q", sc.Text())
				}
				pkg, standard, cgoFiles := fields[0], fields[1] == "true", fields[2]
				n++
				if strings.HasPrefix(pkg, goCeph) || strings.HasPrefix(pkg, sharedModule) {
					t.Errorf("forbidden dependency %s", pkg)
				}
				if cgoFiles == "[]" {
					continue
				}
				// With CGO_ENABLED=0 nothing may have cgo files; with cgo on
				// only the standard library (net, os/user, runtime/cgo) may.
				if slicesContains(tc.env, "CGO_ENABLED=0") || !standard {
					t.Errorf("package %s uses cgo: %s", pkg, cgoFiles)
				}
			}
			if n < 50 {
				t.Errorf("go list returned only %d packages; the check looks broken", n)
			}
		})
	}
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestStaticBinary builds the release binary the way the image does and
// checks it is static, stripped-small, prints its version and shuts down
// cleanly on SIGTERM.
func TestStaticBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	goBinary(t)
	bin := filepath.Join(t.TempDir(), "liveness-probe")
	const testVersion = "v0.0.0-buildtest"
	goCmd(t, []string{"CGO_ENABLED=0"}, "build",
		"-ldflags", "-s -w -X main.version="+testVersion+" -X main.commit=c0ffee", "-o", bin, "./cmd/liveness-probe")

	checkStaticELF(t, bin)
	out, err := exec.Command(bin, "--version").Output()
	if want := "liveness-probe " + testVersion + "\ncommit: c0ffee\n"; err != nil || !strings.HasPrefix(string(out), want) {
		t.Errorf("--version = %q, %v; want it to start with %q", out, err, want)
	}
	checkStopsOnSIGTERM(t, bin)
}

// checkStaticELF checks that bin is small and statically linked.
func checkStaticELF(t *testing.T, bin string) {
	t.Helper()
	fi, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stripped binary size: %d bytes (%.1f MiB)", fi.Size(), float64(fi.Size())/(1<<20))
	if fi.Size() >= maxSize {
		t.Errorf("binary is %d bytes, want < %d", fi.Size(), maxSize)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("not an ELF binary: %v", err)
	}
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			t.Error("binary has an ELF interpreter: it is dynamically linked")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("binary links shared libraries %v", libs)
	}
	f.Close()
}

// checkStopsOnSIGTERM runs bin against a fake driver, waits until it is
// healthy, and checks that SIGTERM stops it cleanly with its shutdown log.
func checkStopsOnSIGTERM(t *testing.T, bin string) {
	t.Helper()
	sock := csitest.SocketPath(t)
	csitest.StartCSI(t, sock, csitest.NewIdentity("bin.csi.example.com"))
	port := freePort(t)
	var logs bytes.Buffer
	cmd := exec.Command(bin, "--http-address=127.0.0.1:"+port, "--probe-interval=50ms")
	cmd.Env = append(os.Environ(), "CSI_ADDRESS=unix://"+sock, "LOG_FORMAT=json")
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	csitest.Eventually(t, 10*time.Second, func() error {
		code, body, err := csitest.Get("http://127.0.0.1:" + port + "/healthz")
		if err != nil || code != http.StatusOK {
			return fmt.Errorf("/healthz = %d %q %v", code, body, err)
		}
		return nil
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\nlogs:\n%s", err, logs.String())
		}
	case <-ctx.Done():
		t.Fatalf("no exit within 10s of SIGTERM\nlogs:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), `"msg":"stopped"`) {
		t.Errorf("JSON logs lack the shutdown message:\n%s", logs.String())
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return port
}
