package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/volctx"
	"github.com/seed-6a310834/ceph-csi/shared/execx"
)

// firstPID is the PID the fake executor gives the first helper.
const firstPID = 1000

// fuseRig is a rig whose rbd-fuse "starts" as scripted.
type fuseRig struct {
	*rig
	work    string
	mnt     string
	backing string
	keyring string
}

// helperBehaviour says what the fake rbd-fuse does once started.
type helperBehaviour struct {
	mount bool   // mounts the mountpoint
	serve bool   // serves the image file
	exit  bool   // exits right away
	log   string // writes this to its log
}

func newFuseRig(t *testing.T, hb helperBehaviour) *fuseRig {
	t.Helper()
	r := &fuseRig{rig: newRig(t)}
	r.work = filepath.Join(t.TempDir(), "vol")
	r.mnt = filepath.Join(r.work, "mnt")
	r.backing = filepath.Join(r.mnt, "img")
	r.exec.OnFunc("rbd-fuse", func(c execx.Call) execx.Result {
		r.keyring = checkKeyringWhileRunning(t, c)
		r.startHelper(t, c, hb)
		return execx.Result{}
	})
	// The helper exits once its mountpoint is unmounted.
	r.mounter.UnmountFunc = func(string) error {
		r.sys.kill(firstPID)
		r.sys.removeFile(r.backing)
		return nil
	}
	return r
}

func (r *fuseRig) startHelper(t *testing.T, c execx.Call, hb helperBehaviour) {
	if hb.log != "" {
		if err := os.WriteFile(c.LogPath, []byte(hb.log), 0o600); err != nil {
			t.Error(err)
		}
	}
	if hb.exit {
		go func() { time.Sleep(20 * time.Millisecond); r.exec.Exit(firstPID) }()
		return
	}
	r.sys.setAlive(firstPID, r.mnt)
	if hb.mount {
		if err := r.mounter.Mount("rbd-fuse", r.mnt, "fuse.rbd-fuse", nil); err != nil {
			t.Error(err)
		}
	}
	if hb.serve {
		r.sys.setFile(r.backing, fakeFile{size: 64 << 20})
	}
}

func (r *fuseRig) request() *Request {
	return &Request{Pool: "pool", Image: "img", Monitors: "10.0.0.1:6789", Creds: testCreds(),
		UnmapOptions: "x", WorkDir: r.work}
}

func (r *fuseRig) attacher(t *testing.T) Attacher { return r.get(t, volctx.MounterFuse) }

func (r *fuseRig) checkNothingLeft(t *testing.T) {
	t.Helper()
	if mps, _ := r.mounter.List(); len(mps) != 0 {
		t.Errorf("mounts left: %+v", mps)
	}
	if r.sys.ProcessAlive(firstPID, r.mnt) {
		t.Error("rbd-fuse still running")
	}
	if _, err := os.Stat(r.work); !os.IsNotExist(err) {
		t.Errorf("work directory left: %v", err)
	}
	if r.keyring != "" {
		checkGone(t, r.keyring)
	}
}

func (r *fuseRig) loopList(devs map[string]string) {
	var items []string
	for dev, file := range devs {
		items = append(items, fmt.Sprintf(`{"name": %q, "back-file": %q}`, dev, file))
	}
	items = append(items, `{"name": "/dev/loop9", "back-file": null}`)
	r.exec.On("losetup --list", execx.Result{Stdout: `{"loopdevices": [` + strings.Join(items, ",") + `]}`})
}

func TestFuseAttachDetach(t *testing.T) {
	for _, tt := range []struct {
		name      string
		namespace string
		readOnly  bool
		wantFuse  string
		wantLoop  string
	}{
		{"plain", "", false, "rbd-fuse -f -p pool -r img", "losetup --find --show --direct-io=on WORK/mnt/img"},
		{"namespace read-only", "ns1", true, "rbd-fuse -f -p pool --namespace=ns1 -r img",
			"losetup --find --show --direct-io=on --read-only WORK/mnt/img"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newFuseRig(t, helperBehaviour{mount: true, serve: true})
			r.exec.OnFunc("rbd-fuse", func(c execx.Call) execx.Result {
				r.keyring = checkKeyringWhileRunning(t, c)
				checkConf(t, filepath.Join(r.work, "ceph.conf"))
				r.startHelper(t, c, helperBehaviour{mount: true, serve: true})
				return execx.Result{}
			})
			r.exec.On("losetup --find", execx.Result{Stdout: "/dev/loop5\n"})
			req := r.request()
			req.Namespace, req.ReadOnly = tt.namespace, tt.readOnly
			a, err := r.attacher(t).Attach(context.Background(), req)
			if err != nil {
				t.Fatalf("Attach() = %v", err)
			}
			want := Attachment{Mounter: "fuse", Device: "/dev/loop5", UnmapOptions: "x", HelperPID: firstPID,
				FuseMount: r.mnt, BackingFile: r.backing, WorkDir: r.work}
			if *a != want {
				t.Fatalf("Attach() = %+v; want %+v", *a, want)
			}
			wantFuse := tt.wantFuse + " -c WORK/ceph.conf --id csi-user --keyring " + r.keyring + " WORK/mnt"
			r.checkCommands(t, wantFuse, tt.wantLoop)
			if c := r.exec.Calls()[0]; !c.Started || c.LogPath != filepath.Join(r.work, "rbd-fuse.log") {
				t.Fatalf("rbd-fuse call = %+v; want a started helper logging into the work directory", c)
			}
			checkGone(t, r.keyring)
			r.checkDetach(t, a)
		})
	}
}

func checkConf(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("ceph.conf = %v, %v; want mode 0600", fi, err)
	}
	if b, _ := os.ReadFile(path); string(b) != "[global]\n\tmon_host = 10.0.0.1:6789\n" {
		t.Errorf("ceph.conf = %q", b)
	}
}

// checkCommands compares the command lines, with WORK for the work dir.
func (r *fuseRig) checkCommands(t *testing.T, want ...string) {
	t.Helper()
	got := strings.ReplaceAll(strings.Join(r.exec.CommandLines(), "\n"), r.work, "WORK")
	if w := strings.Join(want, "\n"); got != w {
		t.Fatalf("commands:\n%s\nwant:\n%s", got, w)
	}
}

// checkDetach detaches a with a new attacher set over the same host, as
// after a plugin restart, and then again.
func (r *fuseRig) checkDetach(t *testing.T, a *Attachment) {
	t.Helper()
	r.exec.Reset()
	r.loopList(map[string]string{"/dev/loop5": r.backing, "/dev/loop6": "/elsewhere/img"})
	restarted, _ := New(Config{Executor: r.exec, Mounter: r.mounter, System: r.sys, StopTimeout: time.Second})
	if err := restarted[volctx.MounterFuse].Detach(context.Background(), a); err != nil {
		t.Fatalf("Detach() = %v", err)
	}
	r.checkCommands(t, "losetup --list --json --output NAME,BACK-FILE", "losetup --detach /dev/loop5")
	r.checkNothingLeft(t)
	if s := r.sys.sent(); len(s) != 0 {
		t.Fatalf("signals sent = %v; rbd-fuse should exit on unmount", s)
	}
	r.exec.Reset()
	r.loopList(nil)
	if err := restarted[volctx.MounterFuse].Detach(context.Background(), a); err != nil {
		t.Fatalf("second Detach() = %v", err)
	}
	r.checkCommands(t, "losetup --list --json --output NAME,BACK-FILE")
}

// After the node plugin's container was replaced, the kernel names the
// loop device's backing file relative to the gone mount namespace
// ("/img (deleted)"): the recorded device with that name is detached, a
// device with the same form but not recorded, or recorded with another
// image's name, is not.
func TestFuseDetachAfterContainerReplaced(t *testing.T) {
	for _, tt := range []struct {
		name, recorded string
		loops          map[string]string
		want           []string
	}{
		{"recorded device", "/dev/loop5", map[string]string{"/dev/loop5": "/img (deleted)", "/dev/loop6": "/img"},
			[]string{"losetup --detach /dev/loop5"}},
		{"not recorded", "", map[string]string{"/dev/loop5": "/img (deleted)"}, nil},
		{"recorded device backs another image", "/dev/loop5", map[string]string{"/dev/loop5": "/other (deleted)"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newFuseRig(t, helperBehaviour{})
			r.loopList(tt.loops)
			a := &Attachment{Mounter: "fuse", Device: tt.recorded, FuseMount: r.mnt, BackingFile: r.backing, WorkDir: r.work}
			if err := r.attacher(t).Detach(context.Background(), a); err != nil {
				t.Fatalf("Detach() = %v", err)
			}
			r.checkCommands(t, append([]string{"losetup --list --json --output NAME,BACK-FILE"}, tt.want...)...)
		})
	}
}

// TestFuseImageListedLate: rbd-fuse's mount is up but its first listing
// left the image out (a failed rbd_list or rbd_open under load); the file
// shows a few polls later. Attach waits for it instead of answering
// "image not found" at the first look.
func TestFuseImageListedLate(t *testing.T) {
	r := newFuseRig(t, helperBehaviour{})
	r.exec.OnFunc("rbd-fuse", func(c execx.Call) execx.Result {
		r.keyring = checkKeyringWhileRunning(t, c)
		r.startHelper(t, c, helperBehaviour{mount: true})
		go func() { time.Sleep(30 * time.Millisecond); r.sys.setFile(r.backing, fakeFile{size: 64 << 20}) }()
		return execx.Result{}
	})
	r.exec.On("losetup --find", execx.Result{Stdout: "/dev/loop5\n"})
	a, err := r.attacher(t).Attach(context.Background(), r.request())
	if err != nil {
		t.Fatalf("Attach() = %v, want the late-listed image attached", err)
	}
	if a.Device != "/dev/loop5" {
		t.Errorf("Attach() device %q, want /dev/loop5", a.Device)
	}
}

func TestFuseAttachFailures(t *testing.T) {
	tests := []struct {
		name     string
		hb       helperBehaviour
		startErr bool
		loopErr  bool
		want     string
		signals  string
	}{
		{name: "start fails", startErr: true, want: "starting rbd-fuse"},
		{name: "helper exits", hb: helperBehaviour{exit: true, log: "line1\nauth: unable to find a keyring\n"},
			want: "rbd-fuse exited before serving WORK/mnt/img: line1 | auth: unable to find a keyring"},
		{name: "image missing", hb: helperBehaviour{mount: true}, want: "RBD image not found: rbd-fuse does not list img (for 75ms; log: no output)"},
		{name: "never ready", hb: helperBehaviour{}, want: "context deadline exceeded", signals: "terminated"},
		{name: "losetup fails", hb: helperBehaviour{mount: true, serve: true}, loopErr: true, want: "setting up a loop device"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newFuseRig(t, tt.hb)
			if tt.startErr {
				r.exec.OnFunc("rbd-fuse", func(c execx.Call) execx.Result {
					r.keyring = argAfter(c.Args, "--keyring")
					return execx.Result{ExitCode: 1}
				})
			}
			if tt.loopErr {
				r.exec.On("losetup --find", execx.Result{ExitCode: 1, Stderr: "losetup: cannot find an unused loop device"})
			}
			_, err := r.attacher(t).Attach(context.Background(), r.request())
			if err == nil || !strings.Contains(strings.ReplaceAll(err.Error(), r.work, "WORK"), tt.want) {
				t.Fatalf("Attach() = %v; want an error containing %q", err, tt.want)
			}
			if tt.name == "image missing" && !errors.Is(err, ErrImageNotFound) {
				t.Fatalf("Attach() = %v; want ErrImageNotFound", err)
			}
			r.checkNothingLeft(t)
			if got := strings.Join(r.sys.sent(), ","); got != tt.signals {
				t.Fatalf("signals = %q; want %q", got, tt.signals)
			}
		})
	}
}

func TestFuseAttachClearsLeftoverMount(t *testing.T) {
	r := newFuseRig(t, helperBehaviour{mount: true, serve: true})
	if err := os.MkdirAll(r.mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := r.mounter.Mount("rbd-fuse", r.mnt, "fuse.rbd-fuse", nil); err != nil {
		t.Fatal(err)
	}
	r.mounter.UnmountFunc = nil
	r.loopList(map[string]string{"/dev/loop2": r.backing})
	r.exec.On("losetup --find", execx.Result{Stdout: "/dev/loop3"})
	a, err := r.attacher(t).Attach(context.Background(), r.request())
	if err != nil || a.Device != "/dev/loop3" {
		t.Fatalf("Attach() = %+v, %v", a, err)
	}
	lines := r.exec.CommandLines()
	if len(lines) != 4 || lines[1] != "losetup --detach /dev/loop2" || !strings.HasPrefix(lines[2], "rbd-fuse") {
		t.Fatalf("commands = %q; want the leftover loop detached first", lines)
	}
}

func TestFuseStopStubbornHelper(t *testing.T) {
	for _, tt := range []struct {
		name    string
		dieOn   []syscall.Signal
		signals string
		wantErr bool
	}{
		{"exits on SIGTERM", []syscall.Signal{syscall.SIGTERM}, "terminated", false},
		{"needs SIGKILL", []syscall.Signal{syscall.SIGKILL}, "terminated,killed", false},
		{"never exits", nil, "terminated,killed", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newFuseRig(t, helperBehaviour{})
			r.mounter.UnmountFunc = nil
			r.sys.dieOn = tt.dieOn
			r.sys.setAlive(77, r.mnt)
			r.loopList(nil)
			a := &Attachment{Mounter: "fuse", HelperPID: 77, FuseMount: r.mnt, BackingFile: r.backing, WorkDir: r.work}
			err := r.attacher(t).Detach(context.Background(), a)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Detach() = %v; want error %v", err, tt.wantErr)
			}
			if got := strings.Join(r.sys.sent(), ","); got != tt.signals {
				t.Fatalf("signals = %q; want %q", got, tt.signals)
			}
		})
	}
}

func TestFuseDetachErrors(t *testing.T) {
	r := newFuseRig(t, helperBehaviour{})
	a := &Attachment{Mounter: "fuse", FuseMount: r.mnt, BackingFile: r.backing, WorkDir: r.work}
	r.exec.On("losetup --list", execx.Result{ExitCode: 1})
	if err := r.attacher(t).Detach(context.Background(), a); err == nil {
		t.Fatal("Detach() ignored a failing loop listing")
	}
	r.exec.On("losetup --list", execx.Result{Stdout: "not json"})
	if err := r.attacher(t).Detach(context.Background(), a); err == nil {
		t.Fatal("Detach() ignored a bad loop listing")
	}
	r.loopList(map[string]string{"/dev/loop1": r.backing + " (deleted)"})
	r.exec.On("losetup --detach", execx.Result{ExitCode: 1})
	if err := r.attacher(t).Detach(context.Background(), a); err == nil || !strings.Contains(err.Error(), "/dev/loop1") {
		t.Fatalf("Detach() = %v; want the failing loop detach", err)
	}
	r.exec.On("losetup --list", execx.Result{Stdout: "\n"})
	if err := r.attacher(t).Detach(context.Background(), a); err != nil {
		t.Fatalf("Detach() with no loop devices = %v", err)
	}
}

func TestFuseResize(t *testing.T) {
	r := newFuseRig(t, helperBehaviour{})
	a := &Attachment{Mounter: "fuse", Device: "/dev/loop4", FuseMount: r.mnt, BackingFile: r.backing}
	r.sys.setFile(r.backing, fakeFile{size: 64 << 20})
	calls := 0
	r.exec.OnFunc("losetup --set-capacity", func(execx.Call) execx.Result {
		calls++
		r.sys.setFile(r.backing, fakeFile{size: 128 << 20}) // the kernel's attribute cache expires
		return execx.Result{}
	})
	if err := r.attacher(t).Resize(context.Background(), a, 128<<20); err != nil || calls != 2 {
		t.Fatalf("Resize() = %v after %d set-capacity calls; want success after 2", err, calls)
	}
	r.checkCommands(t, "losetup --set-capacity /dev/loop4", "losetup --set-capacity /dev/loop4")
	if err := r.attacher(t).Resize(context.Background(), a, 0); err != nil || calls != 3 {
		t.Fatalf("Resize(0) = %v, %d calls", err, calls)
	}
	if err := r.attacher(t).Resize(context.Background(), a, 256<<20); err == nil || !strings.Contains(err.Error(), "want at least 268435456") {
		t.Fatalf("Resize() to a size the image never gets = %v", err)
	}
	r.exec.On("losetup --set-capacity", execx.Result{ExitCode: 1})
	if err := r.attacher(t).Resize(context.Background(), a, 0); err == nil {
		t.Fatal("Resize() ignored a failing losetup")
	}
	r.sys.setFile(r.backing, fakeFile{err: syscall.ENOTCONN})
	if err := r.attacher(t).Resize(context.Background(), a, 0); err == nil {
		t.Fatal("Resize() ignored a dead rbd-fuse")
	}
}

func TestFuseCheck(t *testing.T) {
	r := newFuseRig(t, helperBehaviour{})
	a := &Attachment{Mounter: "fuse", Device: "/dev/loop4", HelperPID: 55, FuseMount: r.mnt, BackingFile: r.backing}
	r.sys.setFile(r.backing, fakeFile{size: 1})
	r.sys.setFile("/dev/loop4", fakeFile{})
	r.sys.setAlive(55, r.mnt)
	if err := r.attacher(t).Check(context.Background(), a); err != nil {
		t.Fatalf("Check() = %v", err)
	}
	r.sys.kill(55)
	r.sys.setFile(r.backing, fakeFile{err: syscall.ENOTCONN})
	err := r.attacher(t).Check(context.Background(), a)
	if err == nil || !strings.Contains(err.Error(), "transport endpoint is not connected") ||
		!strings.Contains(err.Error(), "rbd-fuse process 55 is not running") {
		t.Fatalf("Check() = %v", err)
	}
}

func TestFuseNeedsWorkDir(t *testing.T) {
	r := newRig(t)
	req := &Request{Pool: "p", Image: "i", Creds: testCreds()}
	if _, err := r.get(t, volctx.MounterFuse).Attach(context.Background(), req); err == nil {
		t.Fatal("Attach() without a work directory succeeded")
	}
}

func TestFuseConfKeepsTheClusterWideConf(t *testing.T) {
	base := filepath.Join(t.TempDir(), "ceph.conf")
	if err := os.WriteFile(base, []byte("[global]\n\tmon_host = 192.0.2.1\n[client]\n\trbd_cache = false"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := &fuseAttacher{cephConf: base}
	got, err := f.privateConf("10.0.0.1:6789")
	want := "[global]\n\tmon_host = 192.0.2.1\n[client]\n\trbd_cache = false\n[global]\n\tmon_host = 10.0.0.1:6789\n"
	if err != nil || string(got) != want {
		t.Fatalf("privateConf() = %q, %v; want %q", got, err, want)
	}
}

// TestUnmountWhenFreeRetriesBusy: a mount that is busy for a moment (a loop
// device releasing its backing file) is unmounted on a later try; other
// errors are returned at once.
func TestUnmountWhenFreeRetriesBusy(t *testing.T) {
	calls := 0
	busyTwice := func(string) error {
		calls++
		if calls <= 2 {
			return errors.New("umount: /x: target is busy.")
		}
		return nil
	}
	if err := unmountWhenFree(context.Background(), busyTwice, "/x"); err != nil || calls != 3 {
		t.Fatalf("unmountWhenFree = %v after %d calls; want nil after 3", err, calls)
	}
	calls = 0
	other := func(string) error { calls++; return errors.New("umount: /x: not mounted") }
	if err := unmountWhenFree(context.Background(), other, "/x"); err == nil || calls != 1 {
		t.Fatalf("unmountWhenFree = %v after %d calls; want the error after 1", err, calls)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls = 0
	busy := func(string) error { calls++; return errors.New("target is busy") }
	if err := unmountWhenFree(ctx, busy, "/x"); err == nil || calls != 1 {
		t.Fatalf("unmountWhenFree with a cancelled context = %v after %d calls; want the error after 1", err, calls)
	}
}
