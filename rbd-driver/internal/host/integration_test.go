package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"k8s.io/mount-utils"

	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/execx"
	"github.com/seed-6a310834/ceph-csi/shared/testcluster"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/host/hosttest"
	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/volctx"
)

// testPool is this package's pool on the test cluster, removed after the
// tests.
const testPool = "csi-rbd-node-attach"

func TestMain(m *testing.M) { os.Exit(hosttest.RemovePoolAfter(m, testPool)) }

// realFuse is a fuse attacher on this host with an image in the test pool.
type realFuse struct {
	pool    *hosttest.Pool
	image   string
	req     *Request
	keyDir  string
	workDir string
}

func newRealFuse(t *testing.T, sizeMiB int) *realFuse {
	t.Helper()
	c := testcluster.Get(t)
	hosttest.RequireRoot(t)
	rf := &realFuse{pool: hosttest.EnsurePool(t, c, testPool), image: "fuse-" + uuid.NewString()[:8]}
	if sizeMiB > 0 {
		rf.pool.CreateImage(t, rf.image, sizeMiB)
	}
	rf.keyDir, rf.workDir = t.TempDir(), filepath.Join(t.TempDir(), "vol")
	t.Setenv("TMPDIR", rf.keyDir)
	t.Cleanup(func() {
		if leaks := hosttest.Leaks(rf.workDir); len(leaks) > 0 {
			t.Errorf("leaked: %q", leaks)
			hosttest.ForceCleanup(rf.workDir)
		}
	})
	rf.req = &Request{
		Pool: rf.pool.Name, Image: rf.image, Monitors: strings.Join(c.Monitors, ","),
		Creds: &credentials.Credentials{ID: c.AdminID, Key: c.AdminKey}, WorkDir: rf.workDir,
	}
	return rf
}

func (rf *realFuse) attacher(t *testing.T) Attacher {
	t.Helper()
	as, err := New(Config{Executor: execx.OS{}, Mounter: mount.New(""), ReadyTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return as[volctx.MounterFuse]
}

func deviceSize(t *testing.T, dev string) int64 {
	t.Helper()
	f, err := os.Open(dev)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestIntegrationFuseLifecycle(t *testing.T) {
	rf := newRealFuse(t, 64)
	ctx := context.Background()
	a, err := rf.attacher(t).Attach(ctx, rf.req)
	if err != nil {
		t.Fatalf("Attach() = %v", err)
	}
	if entries, _ := os.ReadDir(rf.keyDir); len(entries) != 0 {
		t.Fatalf("keyring left behind after Attach: %v", entries)
	}
	if got := deviceSize(t, a.Device); got != 64<<20 {
		t.Fatalf("device size = %d; want 64 MiB", got)
	}
	writeAndRead(t, a.Device, 1<<20, "written through the loop device after the keyring was removed")
	if err := rf.attacher(t).Check(ctx, a); err != nil {
		t.Fatalf("Check() = %v", err)
	}

	rf.pool.Resize(t, rf.image, 128)
	if err := rf.attacher(t).Resize(ctx, a, 128<<20); err != nil {
		t.Fatalf("Resize() = %v", err)
	}
	if got := deviceSize(t, a.Device); got != 128<<20 {
		t.Fatalf("device size after resize = %d; want 128 MiB", got)
	}

	// A new attacher, as after a plugin restart, detaches from the record.
	if err := rf.attacher(t).Detach(ctx, a); err != nil {
		t.Fatalf("Detach() = %v", err)
	}
	if leaks := hosttest.Leaks(rf.workDir); len(leaks) > 0 {
		t.Fatalf("Detach() left %q", leaks)
	}
	if err := rf.attacher(t).Detach(ctx, a); err != nil {
		t.Fatalf("second Detach() = %v", err)
	}
}

// writeAndRead writes msg at offset of dev, bypassing the page cache, and
// reads it back.
func writeAndRead(t *testing.T, dev string, offset int64, msg string) {
	t.Helper()
	buf := make([]byte, 4096)
	copy(buf, msg)
	f, err := os.OpenFile(dev, os.O_RDWR|syscall.O_SYNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(buf, offset); err != nil {
		t.Fatalf("writing %s: %v", dev, err)
	}
	got := make([]byte, len(msg))
	if _, err := f.ReadAt(got, offset); err != nil || string(got) != msg {
		t.Fatalf("read back %q, %v; want %q", got, err, msg)
	}
}

func TestIntegrationFuseHelperKilled(t *testing.T) {
	rf := newRealFuse(t, 64)
	ctx := context.Background()
	a, err := rf.attacher(t).Attach(ctx, rf.req)
	if err != nil {
		t.Fatalf("Attach() = %v", err)
	}
	if err := syscall.Kill(a.HelperPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return !(Host{}).ProcessAlive(a.HelperPID, a.FuseMount) })
	// The kernel answers stat from its attribute cache for a second.
	waitUntil(t, func() bool {
		err := rf.attacher(t).Check(ctx, a)
		return err != nil && strings.Contains(err.Error(), "transport endpoint is not connected")
	})
	if err := rf.attacher(t).Detach(ctx, a); err != nil {
		t.Fatalf("Detach() = %v", err)
	}
	if leaks := hosttest.Leaks(rf.workDir); len(leaks) > 0 {
		t.Fatalf("Detach() left %q", leaks)
	}
}

func TestIntegrationFuseMissingImage(t *testing.T) {
	rf := newRealFuse(t, 0)
	_, err := rf.attacher(t).Attach(context.Background(), rf.req)
	if !errors.Is(err, ErrImageNotFound) {
		t.Fatalf("Attach() of a missing image = %v; want ErrImageNotFound", err)
	}
	if leaks := hosttest.Leaks(rf.workDir); len(leaks) > 0 {
		t.Fatalf("failed Attach() left %q", leaks)
	}
	if _, err := os.Stat(rf.workDir); !os.IsNotExist(err) {
		t.Fatalf("work directory left: %v", err)
	}
}

func TestIntegrationFuseBadKey(t *testing.T) {
	rf := newRealFuse(t, 64)
	rf.req.Creds = &credentials.Credentials{ID: rf.req.Creds.ID, Key: testKey}
	_, err := rf.attacher(t).Attach(context.Background(), rf.req)
	if err == nil || !strings.Contains(err.Error(), "rbd-fuse exited") {
		t.Fatalf("Attach() with a wrong key = %v; want rbd-fuse to exit", err)
	}
	if leaks := hosttest.Leaks(rf.workDir); len(leaks) > 0 {
		t.Fatalf("failed Attach() left %q", leaks)
	}
}

func TestHostProcessAlive(t *testing.T) {
	marker := "/marker/" + uuid.NewString()
	cmd := exec.Command("sh", "-c", "sleep 30; :", "sh", marker)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	h := Host{}
	// Until the child has exec'd, its command line is the test binary's.
	waitUntil(t, func() bool { return h.ProcessAlive(pid, marker) })
	if h.ProcessAlive(pid, "/other") || h.ProcessAlive(0, marker) || h.ProcessAlive(-1, marker) {
		t.Fatal("ProcessAlive() matched the wrong process")
	}
	if err := h.Signal(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Not reaped yet: a zombie counts as gone.
	waitUntil(t, func() bool { return !h.ProcessAlive(pid, marker) })
	_ = cmd.Wait()
	if h.ProcessAlive(pid, marker) {
		t.Fatal("ProcessAlive() = true after exit")
	}
	if _, err := h.Stat("/nonexistent"); !os.IsNotExist(err) {
		t.Fatalf("Stat() = %v", err)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal(fmt.Errorf("condition not met within 10s"))
		}
	}
}
