package host

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/seed-6a310834/ceph-csi/shared/execx"
)

func TestFinderFindsEveryKindOfMapping(t *testing.T) {
	ex := execx.NewFake()
	ex.On("rbd device list", execx.Result{Stdout: `[{"id":"0","pool":"rbd","namespace":"","name":"img","snap":"-","device":"/dev/rbd0"},
		{"id":"1","pool":"rbd","namespace":"","name":"img","snap":"s1","device":"/dev/rbd1"},
		{"id":"2","pool":"rbd","namespace":"ns","name":"img","snap":"-","device":"/dev/rbd2"}]`})
	ex.On("rbd-nbd list-mapped", execx.Result{Stdout: `[{"id":7,"pool":"rbd","namespace":"","image":"img","snap":"-","device":"/dev/nbd3"}]`})
	sys := newFakeSystem()
	sys.procs = map[string][]Proc{"rbd-fuse": {
		{PID: 42, Args: []string{"-f", "-p", "rbd", "-r", "img", "-c", "/s/ceph.conf", "--id", "u", "--keyring", "/k", "/s/mnt"}},
		{PID: 43, Args: []string{"-f", "-p", "rbd", "--namespace=ns", "-r", "img", "/t/mnt"}},
		{PID: 44, Args: []string{"-p", "other", "-r", "img", "/u/mnt"}},
	}}
	got, err := Finder{Executor: ex, System: sys}.Find(context.Background(), "rbd", "", "img")
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, m := range got {
		s = append(s, m.String())
	}
	want := "krbd at /dev/rbd0; rbd-nbd at /dev/nbd3; fuse at /s/mnt (pid 42)"
	if strings.Join(s, "; ") != want {
		t.Fatalf("Find() = %q; want %q", strings.Join(s, "; "), want)
	}
	if lines := strings.Join(ex.CommandLines(), "\n"); lines != "rbd device list --format json\nrbd-nbd list-mapped --format json" {
		t.Fatalf("commands:\n%s", lines)
	}
}

func TestFinderNothingMapped(t *testing.T) {
	ex := execx.NewFake()
	ex.On("rbd device list", execx.Result{Stdout: "[]"})
	got, err := Finder{Executor: ex, System: newFakeSystem()}.Find(context.Background(), "rbd", "", "img")
	if err != nil || len(got) != 0 {
		t.Fatalf("Find() = %v, %v", got, err)
	}
}

func TestFinderListingFails(t *testing.T) {
	ex := execx.NewFake()
	ex.On("rbd device list", execx.Result{ExitCode: 1, Stderr: "boom"})
	if _, err := (Finder{Executor: ex, System: newFakeSystem()}).Find(context.Background(), "rbd", "", "img"); err == nil {
		t.Fatal("Find() succeeded although the listing failed")
	}
}

func TestHostProcessesFindsItself(t *testing.T) {
	procs, err := Host{}.Processes("no-such-program-here")
	if err != nil || len(procs) != 0 {
		t.Fatalf("Processes() = %v, %v", procs, err)
	}
}

func TestHoldersCommandsAndParsing(t *testing.T) {
	ex := execx.NewFake()
	ex.OnFunc("rbd status", func(c execx.Call) execx.Result {
		checkKeyringWhileRunning(t, c)
		return execx.Result{Stdout: `{"watchers":[{"address":"10.0.0.5:0/727988542","client":4145,"cookie":140646220304496}]}`}
	})
	ex.On("rbd lock list", execx.Result{Stdout: `[{"id":"auto 140646220304496","locker":"client.4145","address":"10.0.0.5:0/727988542"}]`})
	r := &Request{Pool: "rbd", Namespace: "ns", Image: "img", Monitors: "m1,m2", Creds: testCreds()}
	got, err := Holders(context.Background(), ex, r)
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, h := range got {
		s = append(s, h.String())
	}
	want := `watcher 10.0.0.5:0/727988542 (client.4145); lock 10.0.0.5:0/727988542 (lock "auto 140646220304496" held by client.4145)`
	if strings.Join(s, "; ") != want {
		t.Fatalf("Holders() = %s\nwant %s", strings.Join(s, "; "), want)
	}
	lines := ex.CommandLines()
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "rbd status rbd/ns/img --format json --id "+testCreds().ID+" --keyring /") ||
		!strings.HasSuffix(lines[0], " -m m1,m2") || !strings.HasPrefix(lines[1], "rbd lock list rbd/ns/img --format json") {
		t.Fatalf("commands:\n%s", strings.Join(lines, "\n"))
	}
}

func TestHoldersNoneAndErrors(t *testing.T) {
	ex := execx.NewFake()
	ex.On("rbd status", execx.Result{Stdout: `{"watchers":[]}`})
	ex.On("rbd lock list", execx.Result{Stdout: `[]`})
	r := &Request{Pool: "rbd", Image: "img", Monitors: "m", Creds: testCreds()}
	if got, err := Holders(context.Background(), ex, r); err != nil || len(got) != 0 {
		t.Fatalf("Holders() = %v, %v", got, err)
	}
	ex.On("rbd status", execx.Result{ExitCode: 2, Stderr: "rbd: error opening image img: (2) No such file or directory"})
	if _, err := Holders(context.Background(), ex, r); !errors.Is(err, ErrImageNotFound) {
		t.Fatalf("Holders() of a missing image = %v", err)
	}
}
