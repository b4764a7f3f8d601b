package host

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/mount-utils"

	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/execx"
)

// testKey is a made-up Ceph key.
const testKey = "AQDNIT5fjrwVIhAAqcZURwQRhK3B5fUopYX5Qw=="

// fakeFile is a file (or error) the fake system reports.
type fakeFile struct {
	size int64
	mode fs.FileMode
	err  error
}

type fakeInfo struct {
	name string
	f    fakeFile
}

func (i fakeInfo) Name() string       { return i.name }
func (i fakeInfo) Size() int64        { return i.f.size }
func (i fakeInfo) Mode() fs.FileMode  { return i.f.mode }
func (i fakeInfo) ModTime() time.Time { return time.Time{} }
func (i fakeInfo) IsDir() bool        { return i.f.mode.IsDir() }
func (i fakeInfo) Sys() any           { return nil }

// fakeSystem is a System with scripted files and processes.
type fakeSystem struct {
	mu      sync.Mutex
	files   map[string]fakeFile
	alive   map[int]string // pid -> the argument it is recognised by
	signals []string
	// dieOn lists the signals a process exits on.
	dieOn []syscall.Signal
	// procs are what Processes lists.
	procs map[string][]Proc
}

func newFakeSystem() *fakeSystem {
	return &fakeSystem{files: map[string]fakeFile{}, alive: map[int]string{},
		dieOn: []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL}}
}

func (s *fakeSystem) setFile(path string, f fakeFile) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[path] = f
}

func (s *fakeSystem) removeFile(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.files, path)
}

func (s *fakeSystem) setAlive(pid int, arg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.alive[pid] = arg
}

func (s *fakeSystem) kill(pid int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.alive, pid)
}

func (s *fakeSystem) Stat(path string) (os.FileInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.files[path]
	if !ok {
		return nil, &fs.PathError{Op: "stat", Path: path, Err: syscall.ENOENT}
	}
	if f.err != nil {
		return nil, &fs.PathError{Op: "stat", Path: path, Err: f.err}
	}
	return fakeInfo{name: path, f: f}, nil
}

func (s *fakeSystem) ProcessAlive(pid int, arg string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.alive[pid]
	return ok && a == arg
}

func (s *fakeSystem) Signal(pid int, sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.signals = append(s.signals, sig.String())
	if slices.Contains(s.dieOn, sig) {
		delete(s.alive, pid)
	}
	return nil
}

func (s *fakeSystem) Processes(name string) ([]Proc, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.procs[name]), nil
}

func (s *fakeSystem) sent() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.signals)
}

// rig is an attacher set over fakes.
type rig struct {
	exec    *execx.Fake
	mounter *mount.FakeMounter
	sys     *fakeSystem
	as      Attachers
}

func newRig(t *testing.T) *rig {
	t.Helper()
	t.Setenv("TMPDIR", t.TempDir())
	r := &rig{exec: execx.NewFake(), mounter: mount.NewFakeMounter(nil), sys: newFakeSystem()}
	as, err := New(Config{
		Executor: r.exec, Mounter: r.mounter, System: r.sys,
		ReadyTimeout: 300 * time.Millisecond, StopTimeout: 100 * time.Millisecond, PollInterval: 5 * time.Millisecond,
		CephConf: filepath.Join(t.TempDir(), "absent-ceph.conf"),
	})
	if err != nil {
		t.Fatal(err)
	}
	r.as = as
	return r
}

func (r *rig) get(t *testing.T, mounter string) Attacher {
	t.Helper()
	a, err := r.as.Get(mounter)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func testCreds() *credentials.Credentials {
	return &credentials.Credentials{ID: "csi-user", Key: testKey}
}

// argAfter returns the argument following flag in args.
func argAfter(args []string, flag string) string {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// checkKeyringWhileRunning asserts, while a command runs, that the keyring
// named by its --keyring argument is private and holds the key, and that
// no argument holds the key. It returns the keyring path.
func checkKeyringWhileRunning(t *testing.T, c execx.Call) string {
	t.Helper()
	for _, a := range c.Args {
		if strings.Contains(a, testKey) {
			t.Errorf("command line %q contains the key", c.String())
		}
	}
	path := keyringArg(c.Args)
	fi, err := os.Stat(path)
	if err != nil {
		t.Errorf("keyring %q: %v", path, err)
		return path
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("keyring mode = %v; want 0600", fi.Mode().Perm())
	}
	if di, err := os.Stat(dirOf(path)); err != nil || di.Mode().Perm() != 0o700 {
		t.Errorf("keyring directory mode = %v, %v; want 0700", di, err)
	}
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), "[client.csi-user]") || !strings.Contains(string(b), testKey) {
		t.Errorf("keyring content = %q", b)
	}
	return path
}

func dirOf(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

func checkGone(t *testing.T, path string) {
	t.Helper()
	if path == "" {
		t.Fatal("no path recorded")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("%s still exists (%v)", path, err)
	}
	if _, err := os.Stat(dirOf(path)); !os.IsNotExist(err) {
		t.Fatalf("directory of %s still exists (%v)", path, err)
	}
}

// keyringArg returns the keyring path of "--keyring PATH" or
// "--keyring=PATH".
func keyringArg(args []string) string {
	for _, a := range args {
		if p, ok := strings.CutPrefix(a, "--keyring="); ok {
			return p
		}
	}
	return argAfter(args, "--keyring")
}
