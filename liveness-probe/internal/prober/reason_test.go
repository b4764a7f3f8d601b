package prober_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"syscall"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/liveness-probe/internal/prober"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want prober.Reason
	}{
		{"nil", nil, prober.ReasonNone},
		{"context deadline", context.DeadlineExceeded, prober.ReasonTimeout},
		{"wrapped context deadline", fmt.Errorf("probe: %w", context.DeadlineExceeded), prober.ReasonTimeout},
		{"grpc DeadlineExceeded", status.Error(codes.DeadlineExceeded, "slow"), prober.ReasonTimeout},
		{"grpc Unavailable", status.Error(codes.Unavailable, "connection refused"), prober.ReasonUnavailable},
		{"connection refused", &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, prober.ReasonUnavailable},
		{"no such file", &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", syscall.ENOENT)}, prober.ReasonUnavailable},
		{"fs not exist", fmt.Errorf("stat: %w", fs.ErrNotExist), prober.ReasonUnavailable},
		{"grpc Unimplemented (not CSI)", status.Error(codes.Unimplemented, "unknown service csi.v1.Identity"), prober.ReasonError},
		{"grpc Internal", status.Error(codes.Internal, "boom"), prober.ReasonError},
		{"grpc Canceled", status.Error(codes.Canceled, "canceled"), prober.ReasonError},
		{"plain error", errors.New("something else"), prober.ReasonError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := prober.Classify(tt.err); got != tt.want {
				t.Errorf("Classify(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

func TestReasonsAreTheMetricLabels(t *testing.T) {
	want := map[prober.Reason]bool{"timeout": true, "not_ready": true, "unavailable": true, "error": true}
	got := prober.Reasons()
	if len(got) != len(want) {
		t.Fatalf("Reasons() = %v, want %v", got, want)
	}
	for _, r := range got {
		if !want[r] {
			t.Errorf("unexpected reason %q", r)
		}
	}
}

func TestTarget(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{in: "/csi/csi.sock", want: "unix:///csi/csi.sock"},
		{in: "  /csi/csi.sock ", want: "unix:///csi/csi.sock"},
		{in: "unix:///csi/csi.sock", want: "unix:///csi/csi.sock"},
		{in: "UNIX:///csi/csi.sock", want: "unix:///csi/csi.sock"},
		{in: "unix:/csi/csi.sock", want: "unix:///csi/csi.sock"},
		{in: "csi.sock", want: "unix://" + wd + "/csi.sock"},
		{in: "unix://csi.sock", want: "unix://" + wd + "/csi.sock"},
		{in: "tcp://127.0.0.1:10000", want: "passthrough:///127.0.0.1:10000"},
		{in: "tcp://driver.example:10000/", want: "passthrough:///driver.example:10000"},
		{in: "tcp://[::1]:10000", want: "passthrough:///[::1]:10000"},
		{in: "", wantErr: true},
		{in: "unix://", wantErr: true},
		{in: "tcp://nohostport", wantErr: true},
		{in: "http://example:80", wantErr: true},
	}
	for _, tt := range tests {
		got, err := prober.Target(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("Target(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if got != tt.want {
			t.Errorf("Target(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
