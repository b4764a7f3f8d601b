package csifuzz

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestTablesCallTheirMethod checks that every row of the RPC tables calls
// the handler it is named after (the generated Unimplemented servers name
// the method in their error), and that no RPC is listed twice.
func TestTablesCallTheirMethod(t *testing.T) {
	check := func(method string, err error, seen map[string]bool) {
		t.Helper()
		if want := "method " + method + " not implemented"; status.Convert(err).Message() != want {
			t.Errorf("row %s: %v, want %q", method, err, want)
		}
		if seen[method] {
			t.Errorf("row %s is in the table twice", method)
		}
		seen[method] = true
	}
	ctx := context.Background()
	cc := controllerCase{&ControllerTarget{}, &Controller{Server: csi.UnimplementedControllerServer{}}}
	seen := map[string]bool{}
	for _, rpc := range controllerRPCs {
		_, err := rpc.Call(ctx, cc, Valid)
		check(rpc.Method, err, seen)
	}
	nc := nodeCase{&NodeTarget{}, &Node{Server: csi.UnimplementedNodeServer{}, Dir: "/case"}}
	seen = map[string]bool{}
	for _, rpc := range nodeRPCs {
		_, err := rpc.Call(ctx, nc, Valid)
		check(rpc.Method, err, seen)
	}
}

// recorder is a testing.TB whose Fatalf records the failure and ends the
// goroutine, so a test can observe what run reports.
type recorder struct {
	testing.TB
	failure string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failure = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// failureOf runs f with a recorder and returns the failure it reported,
// "" for none.
func failureOf(t *testing.T, f func(tb testing.TB)) string {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r.failure
}

// stubController answers CreateVolume with answer; every other RPC is
// Unimplemented.
type stubController struct {
	csi.UnimplementedControllerServer
	answer func() (*csi.CreateVolumeResponse, error)
}

func (s stubController) CreateVolume(context.Context, *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
	return s.answer()
}

const (
	testVolume = "0001-0009-cluster-1-0000000000000002-8f4b3c2a-1d5e-4f6a-9b7c-0123456789ab"
	testSnap   = "0001-0009-cluster-1-0000000000000002-0f4b3c2a-1d5e-4f6a-9b7c-0123456789ab"
)

// TestRunJudgesController checks that a Controller case fails exactly on
// what the target promises to catch: a panic, an undefined code, a state
// change by a rejected request, an undecodable ID or a capacity out of
// range, and passes codes the target adds.
func TestRunJudgesController(t *testing.T) {
	volume := func(id string, size int64) func() (*csi.CreateVolumeResponse, error) {
		return func() (*csi.CreateVolumeResponse, error) {
			return &csi.CreateVolumeResponse{Volume: &csi.Volume{VolumeId: id, CapacityBytes: size}}, nil
		}
	}
	fail := func(c codes.Code) func() (*csi.CreateVolumeResponse, error) {
		return func() (*csi.CreateVolumeResponse, error) { return nil, status.Error(c, "no") }
	}
	publish := Valid
	publish.RPC = uint8(len(controllerRPCs) - 2) // ControllerPublishVolume
	cases := []struct {
		name    string
		answer  func() (*csi.CreateVolumeResponse, error)
		in      Input
		rule    CapacityRule
		extra   map[string][]codes.Code
		changes bool
		want    string
	}{
		{name: "created", answer: volume(testVolume, gib), in: Valid},
		{name: "undecodable ID", answer: volume("vol-1", gib), in: Valid, want: "returned the volume ID"},
		{name: "size 0", answer: volume(testVolume, 0), in: Valid, want: "not positive"},
		{name: "size 0 unlimited", answer: volume(testVolume, 0), in: Valid, rule: CapacityZeroUnlimited},
		{name: "rejected", answer: fail(codes.InvalidArgument), in: Valid},
		{name: "Internal", answer: fail(codes.Internal), in: Valid, want: "is not one the CSI spec allows"},
		{name: "rejected after a change", answer: fail(codes.InvalidArgument), in: Valid, changes: true,
			want: "changed the state"},
		{name: "panic", answer: func() (*csi.CreateVolumeResponse, error) { panic("boom") }, in: Valid,
			want: "handler panicked: boom"},
		{name: "Unimplemented", in: publish, want: "is not one the CSI spec allows"},
		{name: "Unimplemented added", in: publish, extra: Unimplemented("ControllerPublishVolume")},
		{name: "Unimplemented added elsewhere", in: publish, extra: Unimplemented("ControllerUnpublishVolume"),
			want: "is not one the CSI spec allows"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			state := "before"
			srv := stubController{answer: func() (*csi.CreateVolumeResponse, error) {
				if tc.changes {
					state = "after"
				}
				return tc.answer()
			}}
			target := &ControllerTarget{Extra: tc.extra, Capacity: tc.rule}
			c := &Controller{Server: srv, Objects: Objects{Volume: testVolume, Snapshot: testSnap},
				Inventory: func() string { return state }}
			got := failureOf(t, func(tb testing.TB) {
				run(tb, controllerRPCs, controllerCase{target, c}, target.outcome(c), tc.in)
			})
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("failure %q, want one with %q", got, tc.want)
			}
		})
	}
}

// stubNode's NodeStageVolume writes a file under the case's directory and
// rejects the request.
type stubNode struct {
	csi.UnimplementedNodeServer
	dir string
}

func (s stubNode) NodeStageVolume(context.Context, *csi.NodeStageVolumeRequest) (*csi.NodeStageVolumeResponse, error) {
	if err := os.WriteFile(filepath.Join(s.dir, "left-behind"), nil, 0o600); err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	return nil, status.Error(codes.InvalidArgument, "no")
}

// TestRunJudgesNodeFiles checks that a Node case's state includes the files
// under its directory, not only its Inventory.
func TestRunJudgesNodeFiles(t *testing.T) {
	dir := t.TempDir()
	c := nodeCase{&NodeTarget{}, &Node{Server: stubNode{dir: dir}, Dir: dir, Staging: filepath.Join(dir, "staging"),
		Inventory: func() string { return "" }}}
	got := failureOf(t, func(tb testing.TB) { run(tb, nodeRPCs, c, c.outcome(), Valid) })
	if !strings.Contains(got, "changed the state") || !strings.Contains(got, "left-behind") {
		t.Errorf("failure %q, want the new file reported as a change", got)
	}
}
