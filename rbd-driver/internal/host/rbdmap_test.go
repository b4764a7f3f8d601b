package host

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/volctx"
	"github.com/seed-6a310834/ceph-csi/shared/execx"
)

func TestSelectOptions(t *testing.T) {
	tests := []struct{ opts, kind, want string }{
		{"", kindKRBD, ""},
		{"lock_on_read,queue_depth=1024", kindKRBD, "lock_on_read,queue_depth=1024"},
		{"lock_on_read", kindNBD, "lock_on_read"},
		{"krbd:lock_on_read,queue_depth=1024;nbd:try-netlink", kindKRBD, "lock_on_read,queue_depth=1024"},
		{"krbd:lock_on_read;nbd:try-netlink", kindNBD, "try-netlink"},
		{"krbd:a; common ;nbd:b", kindNBD, "common,b"},
		{"krbd:a", kindNBD, ""},
		{";;", kindKRBD, ""},
	}
	for _, tt := range tests {
		if got := SelectOptions(tt.opts, tt.kind); got != tt.want {
			t.Errorf("SelectOptions(%q, %q) = %q; want %q", tt.opts, tt.kind, got, tt.want)
		}
	}
}

func TestGet(t *testing.T) {
	r := newRig(t)
	for _, m := range []string{"", volctx.MounterKRBD, volctx.MounterNBD, volctx.MounterFuse} {
		if _, err := r.as.Get(m); err != nil {
			t.Errorf("Get(%q) = %v", m, err)
		}
	}
	if _, err := r.as.Get("ceph-fuse"); !errors.Is(err, ErrUnknownMounter) {
		t.Fatalf("Get(unknown) = %v", err)
	}
	if _, err := New(Config{}); err == nil {
		t.Fatal("New() without dependencies succeeded")
	}
}

// mapCases are map requests and the command lines ceph-csi runs for them.
var mapCases = []struct {
	name    string
	mounter string
	req     Request
	want    string // with KEYRING for the keyring path
	device  string
}{
	{
		name: "krbd", mounter: volctx.MounterKRBD,
		req:    Request{Pool: "rbd", Image: "csi-vol-1", Monitors: "10.0.0.1:6789,10.0.0.2:6789"},
		want:   "rbd --id csi-user -m 10.0.0.1:6789,10.0.0.2:6789 --keyring=KEYRING map rbd/csi-vol-1 --device-type krbd --options noudev",
		device: "/dev/rbd0",
	},
	{
		name: "krbd with namespace, options and read-only", mounter: volctx.MounterKRBD,
		req: Request{Pool: "rbd", Namespace: "ns1", Image: "img", Monitors: "m:6789", ReadOnly: true,
			MapOptions: "krbd:lock_on_read,queue_depth=1024;nbd:try-netlink"},
		want: "rbd --id csi-user -m m:6789 --keyring=KEYRING map rbd/ns1/img --device-type krbd --options noudev " +
			"--options lock_on_read,queue_depth=1024 --read-only",
		device: "/dev/rbd3",
	},
	{
		name: "rbd-nbd", mounter: volctx.MounterNBD,
		req: Request{VolumeID: "0001-vol", Pool: "replicapool", Image: "img", Monitors: "m:6789",
			MapOptions: "krbd:lock_on_read;nbd:try-netlink,reattach-timeout=30"},
		want: "rbd-nbd --id csi-user -m m:6789 --keyring=KEYRING map replicapool/img --io-timeout=0 --cookie=0001-vol " +
			"--try-netlink --reattach-timeout=30",
		device: "/dev/nbd0",
	},
	{
		name: "rbd-nbd with ceph-csi's defaults", mounter: volctx.MounterNBD,
		req: Request{VolumeID: "0001-vol", Pool: "replicapool", Image: "img", Monitors: "m:6789", ReadOnly: true},
		want: "rbd-nbd --id csi-user -m m:6789 --keyring=KEYRING map replicapool/img --try-netlink --reattach-timeout=300 " +
			"--io-timeout=0 --cookie=0001-vol --read-only",
		device: "/dev/nbd1",
	},
	{
		name: "rbd-nbd with a log file (cephLogDir)", mounter: volctx.MounterNBD,
		req: Request{VolumeID: "0001-vol", Pool: "rbd", Image: "img", Monitors: "m:6789", LogFile: NbdLogFile("/var/log/ceph", "0001-vol")},
		want: "rbd-nbd --id csi-user -m m:6789 --keyring=KEYRING --log-file /var/log/ceph/rbd-nbd-0001-vol.log map rbd/img " +
			"--try-netlink --reattach-timeout=300 --io-timeout=0 --cookie=0001-vol",
		device: "/dev/nbd5",
	},
	{
		name: "krbd in a network namespace", mounter: volctx.MounterKRBD,
		req: Request{Pool: "rbd", Image: "img", Monitors: "m:6789", NetNamespace: "/var/run/netns/multus"},
		want: "nsenter --net=/var/run/netns/multus -- rbd --id csi-user -m m:6789 --keyring=KEYRING map rbd/img " +
			"--device-type krbd --options noudev",
		device: "/dev/rbd2",
	},
}

func TestMapCommandLines(t *testing.T) {
	for _, tt := range mapCases {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			var keyring string
			r.exec.OnFunc("", func(c execx.Call) execx.Result {
				keyring = checkKeyringWhileRunning(t, c)
				return execx.Result{Stdout: "some warning\n" + tt.device + "\n"}
			})
			req := tt.req
			req.Creds, req.UnmapOptions = testCreds(), "force"
			a, err := r.get(t, tt.mounter).Attach(context.Background(), &req)
			if err != nil {
				t.Fatalf("Attach() = %v", err)
			}
			lines := r.exec.CommandLines()
			if want := strings.Replace(tt.want, "KEYRING", keyring, 1); len(lines) != 1 || lines[0] != want {
				t.Fatalf("commands = %q; want [%q]", lines, want)
			}
			checkGone(t, keyring)
			want := Attachment{Mounter: tt.mounter, Device: tt.device, UnmapOptions: "force", NetNamespace: req.NetNamespace,
				LogFile: req.LogFile}
			if *a != want {
				t.Fatalf("Attach() = %+v; want %+v", *a, want)
			}
		})
	}
}

func TestMapErrors(t *testing.T) {
	tests := []struct {
		name     string
		result   execx.Result
		notFound bool
	}{
		{"map fails", execx.Result{ExitCode: 1, Stderr: "rbd: sysfs write failed"}, false},
		{"image missing", execx.Result{ExitCode: 2, Stderr: "rbd: error opening image img: (2) No such file or directory"}, true},
		{"no device printed", execx.Result{Stdout: "mapped\n"}, false},
		{"empty output", execx.Result{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			var keyring string
			r.exec.OnFunc("rbd", func(c execx.Call) execx.Result {
				keyring = keyringArg(c.Args)
				return tt.result
			})
			req := &Request{Pool: "p", Image: "img", Monitors: "m", Creds: testCreds()}
			_, err := r.get(t, volctx.MounterKRBD).Attach(context.Background(), req)
			if err == nil || errors.Is(err, ErrImageNotFound) != tt.notFound {
				t.Fatalf("Attach() = %v; want an error (not found: %v)", err, tt.notFound)
			}
			if strings.Contains(err.Error(), testKey) {
				t.Fatal("error contains the key")
			}
			checkGone(t, keyring)
		})
	}
	r := newRig(t)
	if _, err := r.get(t, volctx.MounterKRBD).Attach(context.Background(), &Request{Pool: "p", Image: "i"}); err == nil {
		t.Fatal("Attach() without credentials succeeded")
	}
}

func TestUnmap(t *testing.T) {
	tests := []struct {
		name    string
		mounter string
		att     Attachment
		exists  bool
		result  execx.Result
		gone    bool // the device disappears despite a failure
		want    []string
		wantErr bool
	}{
		{name: "krbd", mounter: volctx.MounterKRBD, att: Attachment{Device: "/dev/rbd0"}, exists: true,
			want: []string{"rbd unmap /dev/rbd0 --device-type krbd --options noudev"}},
		{name: "krbd with options", mounter: volctx.MounterKRBD,
			att: Attachment{Device: "/dev/rbd1", UnmapOptions: "krbd:force;nbd:x"}, exists: true,
			want: []string{"rbd unmap /dev/rbd1 --device-type krbd --options noudev --options force"}},
		{name: "nbd", mounter: volctx.MounterNBD, att: Attachment{Device: "/dev/nbd2", UnmapOptions: "krbd:force"}, exists: true,
			want: []string{"rbd-nbd unmap /dev/nbd2"}},
		{name: "already gone", mounter: volctx.MounterKRBD, att: Attachment{Device: "/dev/rbd0"}},
		{name: "no device", mounter: volctx.MounterKRBD},
		{name: "fails", mounter: volctx.MounterKRBD, att: Attachment{Device: "/dev/rbd0"}, exists: true,
			result: execx.Result{ExitCode: 16, Stderr: "rbd: sysfs write failed: Device or resource busy"},
			want:   []string{"rbd unmap /dev/rbd0 --device-type krbd --options noudev"}, wantErr: true},
		{name: "fails but gone", mounter: volctx.MounterKRBD, att: Attachment{Device: "/dev/rbd0"}, exists: true,
			result: execx.Result{ExitCode: 22}, gone: true, want: []string{"rbd unmap /dev/rbd0 --device-type krbd --options noudev"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			if tt.exists {
				r.sys.setFile(tt.att.Device, fakeFile{})
			}
			r.exec.OnFunc("", func(execx.Call) execx.Result {
				if tt.gone || tt.result.ExitCode == 0 {
					r.sys.removeFile(tt.att.Device)
				}
				return tt.result
			})
			err := r.get(t, tt.mounter).Detach(context.Background(), &tt.att)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Detach() = %v; want error %v", err, tt.wantErr)
			}
			if got := r.exec.CommandLines(); strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Fatalf("commands = %q; want %q", got, tt.want)
			}
		})
	}
}

func TestMapCheckAndResize(t *testing.T) {
	r := newRig(t)
	a := r.get(t, volctx.MounterKRBD)
	att := &Attachment{Mounter: volctx.MounterKRBD, Device: "/dev/rbd0"}
	if err := a.Check(context.Background(), att); err == nil || !strings.Contains(err.Error(), "/dev/rbd0") {
		t.Fatalf("Check() of a missing device = %v", err)
	}
	r.sys.setFile("/dev/rbd0", fakeFile{})
	if err := a.Check(context.Background(), att); err != nil {
		t.Fatalf("Check() = %v", err)
	}
	if err := a.Resize(context.Background(), att, 1<<30); err != nil || len(r.exec.Calls()) != 0 {
		t.Fatalf("Resize() = %v, commands %q; want nothing to do", err, r.exec.CommandLines())
	}
}

func TestNbdReattach(t *testing.T) {
	r := newRig(t)
	nbd := r.get(t, volctx.MounterNBD).(Reattacher)
	att := &Attachment{Mounter: volctx.MounterNBD, Device: "/dev/nbd4"}
	r.sys.setFile("/dev/nbd4", fakeFile{})
	r.exec.On("rbd-nbd list-mapped", execx.Result{Stdout: `[]`})
	if alive, err := nbd.Alive(context.Background(), att); err != nil || alive {
		t.Fatalf("Alive() = %v, %v; want false", alive, err)
	}
	if err := r.get(t, volctx.MounterNBD).Check(context.Background(), att); err == nil || !strings.Contains(err.Error(), "no rbd-nbd process") {
		t.Fatalf("Check() of an orphaned nbd device = %v", err)
	}
	var keyring string
	r.exec.OnFunc("rbd-nbd --id", func(c execx.Call) execx.Result {
		keyring = checkKeyringWhileRunning(t, c)
		return execx.Result{}
	})
	r.exec.Reset()
	req := &Request{VolumeID: "0001-vol", Pool: "rbd", Image: "img", Monitors: "m", Creds: testCreds(), MapOptions: "nbd:io-timeout=30"}
	if err := nbd.Reattach(context.Background(), req, att); err != nil {
		t.Fatal(err)
	}
	want := "rbd-nbd --id csi-user -m m --keyring=" + keyring + " attach rbd/img --device /dev/nbd4 --try-netlink " +
		"--reattach-timeout=300 --cookie=0001-vol --io-timeout=30"
	if got := r.exec.CommandLines(); len(got) != 1 || got[0] != want {
		t.Fatalf("commands = %q; want %q", got, want)
	}
	checkGone(t, keyring)
	r.exec.On("rbd-nbd list-mapped", execx.Result{Stdout: `[{"image":"img","pool":"rbd","device":"/dev/nbd4"}]`})
	if alive, err := nbd.Alive(context.Background(), att); err != nil || !alive {
		t.Fatalf("Alive() = %v, %v; want true", alive, err)
	}
}

func TestMapUnsupportedFeatures(t *testing.T) {
	r := newRig(t)
	r.exec.On("rbd", execx.Result{ExitCode: 6, Stderr: "rbd: sysfs write failed\nRBD image feature set mismatch. You can disable features unsupported by the kernel"})
	_, err := r.get(t, volctx.MounterKRBD).Attach(context.Background(), &Request{Pool: "p", Image: "i", Monitors: "m", Creds: testCreds()})
	if !errors.Is(err, ErrUnsupportedFeatures) {
		t.Fatalf("Attach() = %v; want ErrUnsupportedFeatures", err)
	}
}

func TestNbdLogFileStrategies(t *testing.T) {
	if got := NbdLogFile("/var/log/ceph", "../x"); got != "" {
		t.Fatalf("NbdLogFile() of a path-like ID = %q", got)
	}
	dir := t.TempDir()
	for _, tc := range []struct{ strategy, left string }{
		{"", ""}, {LogRemove, ""}, {LogPreserve, "rbd-nbd-v.log"}, {LogCompress, "rbd-nbd-v.log.gz"},
	} {
		file := NbdLogFile(dir, "v")
		if err := os.WriteFile(file, []byte("log line\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		r := newRig(t)
		r.sys.setFile("/dev/nbd1", fakeFile{})
		r.exec.OnFunc("rbd-nbd unmap", func(execx.Call) execx.Result { r.sys.removeFile("/dev/nbd1"); return execx.Result{} })
		att := &Attachment{Mounter: volctx.MounterNBD, Device: "/dev/nbd1", LogFile: file, LogStrategy: tc.strategy}
		if err := r.get(t, volctx.MounterNBD).Detach(context.Background(), att); err != nil {
			t.Fatal(err)
		}
		entries, _ := os.ReadDir(dir)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if strings.Join(names, ",") != tc.left {
			t.Fatalf("strategy %q left %v, want %q", tc.strategy, names, tc.left)
		}
		for _, n := range names {
			_ = os.Remove(filepath.Join(dir, n))
		}
	}
}
