package host

import (
	"context"
	"errors"
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

func TestMapCommandLines(t *testing.T) {
	tests := []struct {
		name    string
		mounter string
		req     Request
		want    string // with KEYRING for the keyring path
		device  string
	}{
		{
			name: "krbd", mounter: volctx.MounterKRBD,
			req:    Request{Pool: "rbd", Image: "csi-vol-1", Monitors: "10.0.0.1:6789,10.0.0.2:6789"},
			want:   "rbd device map rbd/csi-vol-1 --id csi-user --keyring KEYRING -m 10.0.0.1:6789,10.0.0.2:6789",
			device: "/dev/rbd0",
		},
		{
			name: "krbd with namespace, options and read-only", mounter: volctx.MounterKRBD,
			req: Request{Pool: "rbd", Namespace: "ns1", Image: "img", Monitors: "m:6789", ReadOnly: true,
				MapOptions: "krbd:lock_on_read,queue_depth=1024;nbd:try-netlink"},
			want:   "rbd device map rbd/ns1/img --id csi-user --keyring KEYRING -m m:6789 --read-only -o lock_on_read,queue_depth=1024",
			device: "/dev/rbd3",
		},
		{
			name: "rbd-nbd", mounter: volctx.MounterNBD,
			req: Request{Pool: "replicapool", Image: "img", Monitors: "m:6789",
				MapOptions: "krbd:lock_on_read;nbd:try-netlink,reattach-timeout=30"},
			want:   "rbd device map -t nbd replicapool/img --id csi-user --keyring KEYRING -m m:6789 -o try-netlink,reattach-timeout=30",
			device: "/dev/nbd0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			var keyring string
			r.exec.OnFunc("rbd device map", func(c execx.Call) execx.Result {
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
			want := Attachment{Mounter: tt.mounter, Device: tt.device, UnmapOptions: "force"}
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
			r.exec.OnFunc("rbd device map", func(c execx.Call) execx.Result {
				keyring = argAfter(c.Args, "--keyring")
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
			want: []string{"rbd device unmap /dev/rbd0"}},
		{name: "krbd with options", mounter: volctx.MounterKRBD,
			att: Attachment{Device: "/dev/rbd1", UnmapOptions: "krbd:force;nbd:x"}, exists: true,
			want: []string{"rbd device unmap /dev/rbd1 -o force"}},
		{name: "nbd", mounter: volctx.MounterNBD, att: Attachment{Device: "/dev/nbd2", UnmapOptions: "krbd:force"}, exists: true,
			want: []string{"rbd device unmap -t nbd /dev/nbd2"}},
		{name: "already gone", mounter: volctx.MounterKRBD, att: Attachment{Device: "/dev/rbd0"}},
		{name: "no device", mounter: volctx.MounterKRBD},
		{name: "fails", mounter: volctx.MounterKRBD, att: Attachment{Device: "/dev/rbd0"}, exists: true,
			result: execx.Result{ExitCode: 16, Stderr: "rbd: sysfs write failed: Device or resource busy"},
			want:   []string{"rbd device unmap /dev/rbd0"}, wantErr: true},
		{name: "fails but gone", mounter: volctx.MounterKRBD, att: Attachment{Device: "/dev/rbd0"}, exists: true,
			result: execx.Result{ExitCode: 22}, gone: true, want: []string{"rbd device unmap /dev/rbd0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			if tt.exists {
				r.sys.setFile(tt.att.Device, fakeFile{})
			}
			r.exec.OnFunc("rbd device unmap", func(execx.Call) execx.Result {
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
