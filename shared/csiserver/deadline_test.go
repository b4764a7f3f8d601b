package csiserver

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestAnswerBeforeDeadline: a handler stuck in a call that ignores its
// context (as a Ceph mgr command does while the monitor is down) is
// answered by the server with DeadlineExceeded before the caller's own
// deadline; the handler goes on, and its late result is logged.
func TestAnswerBeforeDeadline(t *testing.T) {
	release, finished := make(chan struct{}), make(chan struct{})
	ctrl := &fakeController{create: func(context.Context, *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
		defer close(finished)
		<-release
		return &csi.CreateVolumeResponse{}, nil
	}}
	h := startHarness(t, harnessOptions{controller: ctrl})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := h.controller().CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "pvc-1"})
	callerExpired := ctx.Err() != nil
	st := status.Convert(err)
	if st.Code() != codes.DeadlineExceeded || !strings.Contains(st.Message(), "no answer from the storage backend") {
		t.Fatalf("CreateVolume = %v, want the server's DeadlineExceeded", err)
	}
	if callerExpired {
		t.Fatal("the answer came after the caller's deadline")
	}
	close(release)
	<-finished
	deadline := time.Now().Add(callTimeout)
	for !strings.Contains(h.logs.String(), "request finished after its deadline answer") {
		if time.Now().After(deadline) {
			t.Fatalf("late result not logged:\n%s", h.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAnswerInTimeUnchanged: handlers that answer in time, with or
// without a deadline, pass through unchanged.
func TestAnswerInTimeUnchanged(t *testing.T) {
	ctrl := &fakeController{create: func(_ context.Context, req *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
		if req.GetName() == "" {
			return nil, status.Error(codes.InvalidArgument, "name: missing")
		}
		return &csi.CreateVolumeResponse{Volume: &csi.Volume{VolumeId: req.GetName()}}, nil
	}}
	h := startHarness(t, harnessOptions{controller: ctrl})
	for _, ctx := range []context.Context{callContext(t), context.Background()} {
		resp, err := h.controller().CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "pvc-1"})
		if err != nil || resp.GetVolume().GetVolumeId() != "pvc-1" {
			t.Fatalf("CreateVolume = %v, %v", resp, err)
		}
		_, err = h.controller().CreateVolume(ctx, &csi.CreateVolumeRequest{})
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("CreateVolume without a name = %v, want InvalidArgument", err)
		}
	}
}

func TestAnswerMargin(t *testing.T) {
	for _, tc := range []struct{ remaining, want time.Duration }{
		{10 * time.Second, 500 * time.Millisecond},
		{time.Minute, time.Second},
		{200 * time.Millisecond, 50 * time.Millisecond},
	} {
		if got := answerMargin(tc.remaining); got != tc.want {
			t.Errorf("answerMargin(%s) = %s, want %s", tc.remaining, got, tc.want)
		}
	}
}
