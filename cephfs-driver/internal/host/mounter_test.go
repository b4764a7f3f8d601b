package host

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/execx"
)

const testKey = "AQBhc2VjcmV0a2V5c2VjcmV0a2V5c2VjcmV0a2V5MQ=="

func request() Request {
	return Request{
		Target:   "/staging/vol",
		Monitors: []string{"10.0.0.1:6789", "10.0.0.2:6789"},
		FSName:   "myfs",
		Path:     "/volumes/csi/csi-vol-1/abc",
		Creds:    &credentials.Credentials{ID: "csi-user", Key: testKey},
		Options:  []string{"noatime"},
	}
}

// optionValue returns the value of key= in a comma-separated option list.
func optionValue(opts, key string) string {
	for _, o := range strings.Split(opts, ",") {
		if v, ok := strings.CutPrefix(o, key+"="); ok {
			return v
		}
	}
	return ""
}

// checkPrivateFile asserts the credentials file exists with mode 0600 in a
// 0700 directory and holds want.
func checkPrivateFile(t *testing.T, path, want string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("credentials file during the mount: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("credentials file mode %v, want 0600", fi.Mode().Perm())
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil || di.Mode().Perm() != 0o700 {
		t.Errorf("credentials directory mode %v (%v), want 0700", di.Mode().Perm(), err)
	}
	data, _ := os.ReadFile(path)
	if !strings.Contains(string(data), want) {
		t.Errorf("credentials file does not hold the key")
	}
}

func TestKernelCommandLine(t *testing.T) {
	var secretFile string
	fake := execx.NewFake()
	fake.OnFunc("mount", func(c execx.Call) execx.Result {
		opts := c.Args[len(c.Args)-1]
		secretFile = optionValue(opts, "secretfile")
		checkPrivateFile(t, secretFile, testKey)
		if data, _ := os.ReadFile(secretFile); string(data) != testKey {
			t.Errorf("secret file holds %d bytes, want exactly the key", len(data))
		}
		return execx.Result{}
	})
	if err := (&Kernel{Exec: fake}).Mount(context.Background(), request()); err != nil {
		t.Fatal(err)
	}
	calls := fake.Calls()
	if len(calls) != 1 {
		t.Fatalf("ran %d commands, want 1", len(calls))
	}
	c := calls[0]
	want := []string{"-t", "ceph", "10.0.0.1:6789,10.0.0.2:6789:/volumes/csi/csi-vol-1/abc", "/staging/vol", "-o",
		"name=csi-user,secretfile=" + secretFile + ",mds_namespace=myfs,noatime"}
	if c.Name != "mount" || !slices.Equal(c.Args, want) {
		t.Fatalf("command %q\nwant mount %q", c, want)
	}
	if strings.Contains(c.String(), testKey) {
		t.Fatal("the key is on the command line")
	}
	if c.Detached || c.Started {
		t.Error("kernel mount should be a plain run, not detached")
	}
	if _, err := os.Stat(secretFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("secret file %s still exists after the mount: %v", secretFile, err)
	}
	if _, err := os.Stat(filepath.Dir(secretFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("secret directory still exists after the mount: %v", err)
	}
}

func TestKernelMonitors(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{[]string{"10.0.0.1:6789", "10.0.0.2"}, "10.0.0.1:6789,10.0.0.2"},
		{[]string{"v1:10.0.0.1:6790", "v2:10.0.0.1:3301"}, "10.0.0.1:6790"},
		{[]string{"[v2:10.0.0.1:3300,v1:10.0.0.1:6789]", "[v2:10.0.0.2:3300,v1:10.0.0.2:6789]"}, "10.0.0.1:6789,10.0.0.2:6789"},
		{[]string{"v1:[fd00::1]:6789", "[fd00::2]"}, "[fd00::1]:6789,[fd00::2]"},
	} {
		if got, err := kernelMonitors(tc.in); err != nil || got != tc.want {
			t.Errorf("kernelMonitors(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if got, err := kernelMonitors([]string{"v2:10.0.0.1:3300"}); err == nil || !strings.Contains(err.Error(), "v1 monitor") {
		t.Errorf("kernelMonitors(only v2) = %q, %v; want an error naming the v1 address", got, err)
	}
}

func TestKernelMountFailureRemovesSecret(t *testing.T) {
	var secretFile string
	fake := execx.NewFake()
	fake.OnFunc("mount", func(c execx.Call) execx.Result {
		secretFile = optionValue(c.Args[len(c.Args)-1], "secretfile")
		return execx.Result{ExitCode: 32, Stderr: "mount error: no such device"}
	})
	err := (&Kernel{Exec: fake}).Mount(context.Background(), request())
	var ee *execx.ExitError
	if !errors.As(err, &ee) || ee.ExitCode != 32 || ee.Stderr != "mount error: no such device" {
		t.Fatalf("Mount = %v, want the exit error", err)
	}
	if _, err := os.Stat(secretFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("secret file left behind after a failed mount: %v", err)
	}
}

func TestFuseCommandLine(t *testing.T) {
	var keyring string
	fake := execx.NewFake()
	fake.OnFunc("ceph-fuse", func(c execx.Call) execx.Result {
		i := slices.Index(c.Args, "--keyring")
		keyring = c.Args[i+1]
		checkPrivateFile(t, keyring, "[client.csi-user]\n\tkey = "+testKey)
		return execx.Result{}
	})
	if err := (&Fuse{Exec: fake}).Mount(context.Background(), request()); err != nil {
		t.Fatal(err)
	}
	c := fake.Calls()[0]
	want := []string{"/staging/vol", "-m", "10.0.0.1:6789,10.0.0.2:6789", "--id", "csi-user", "--keyring", keyring,
		"--client_mountpoint=/volumes/csi/csi-vol-1/abc", "--client_fs=myfs", "-o", "noatime"}
	if c.Name != "ceph-fuse" || !slices.Equal(c.Args, want) {
		t.Fatalf("command %q\nwant ceph-fuse %q", c, want)
	}
	if !c.Detached || c.Started {
		t.Error("ceph-fuse must run detached (and be waited for) so that its daemon survives the plugin")
	}
	if strings.Contains(c.String(), testKey) {
		t.Fatal("the key is on the command line")
	}
	if _, err := os.Stat(keyring); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("keyring left behind: %v", err)
	}
}

func TestFuseWithoutOptions(t *testing.T) {
	fake := execx.NewFake()
	r := request()
	r.Options = nil
	if err := (&Fuse{Exec: fake, Binary: "/opt/ceph-fuse"}).Mount(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	c := fake.Calls()[0]
	if c.Name != "/opt/ceph-fuse" || slices.Contains(c.Args, "-o") {
		t.Fatalf("command %q", c)
	}
}

func TestBadRequest(t *testing.T) {
	for _, m := range []Mounter{&Kernel{Exec: execx.NewFake()}, &Fuse{Exec: execx.NewFake()}} {
		r := request()
		r.Path = ""
		if err := m.Mount(context.Background(), r); err == nil {
			t.Errorf("%T accepted a request without a path", m)
		}
		r = request()
		r.Creds = nil
		if err := m.Mount(context.Background(), r); err == nil {
			t.Errorf("%T accepted a request without credentials", m)
		}
	}
}

func TestSplitOptions(t *testing.T) {
	got := SplitOptions(" a, ,b=1,")
	if !slices.Equal(got, []string{"a", "b=1"}) {
		t.Fatalf("SplitOptions = %q", got)
	}
}

func TestFind(t *testing.T) {
	mounts := []MountPoint{
		{ID: 1, Path: "/"},
		{ID: 5, Path: "/stage", Device: "0:40", Root: "/"},
		{ID: 9, Path: "/stage", Device: "0:40", Root: "/.snap/s/u"},
	}
	top, ok := Find(mounts, "/stage/")
	if !ok || top.ID != 9 {
		t.Fatalf("Find = %+v %v, want the top mount", top, ok)
	}
	if _, ok := Find(mounts, "/other"); ok {
		t.Fatal("Find found a path that is not mounted")
	}
}

func TestFuseProcesses(t *testing.T) {
	proc := t.TempDir()
	write := func(pid, cmdline string) {
		if err := os.MkdirAll(filepath.Join(proc, pid), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(proc, pid, "cmdline"), []byte(cmdline), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("10", "ceph-fuse\x00/stage/a\x00-m\x00mon\x00")
	write("11", "/usr/bin/ceph-fuse\x00/stage/b\x00")
	write("12", "bash\x00/stage/a\x00")
	write("self", "x")
	if got := FuseProcesses(proc, "/stage/a"); !slices.Equal(got, []int{10}) {
		t.Fatalf("FuseProcesses(/stage/a) = %v", got)
	}
	if got := FuseProcesses(proc, "/stage/b/"); !slices.Equal(got, []int{11}) {
		t.Fatalf("FuseProcesses(/stage/b) = %v", got)
	}
}

// TestDefaultFileSystem: without a file system name (a static PV without
// fsName) neither client is told one, so both mount the default.
func TestDefaultFileSystem(t *testing.T) {
	for _, m := range []Mounter{&Kernel{Exec: execx.NewFake()}, &Fuse{Exec: execx.NewFake()}} {
		r := request()
		r.FSName = ""
		if err := m.Mount(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		var c execx.Call
		switch m := m.(type) {
		case *Kernel:
			c = m.Exec.(*execx.Fake).Calls()[0]
		case *Fuse:
			c = m.Exec.(*execx.Fake).Calls()[0]
		}
		if s := c.String(); strings.Contains(s, "client_fs") || strings.Contains(s, "mds_namespace") {
			t.Fatalf("%T names a file system: %s", m, s)
		}
	}
}
