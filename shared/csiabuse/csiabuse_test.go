package csiabuse

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

const key = "AQBzZWNyZXRzZWNyZXRzZWNyZXRzZWNyZXQ=="

func TestVerdict(t *testing.T) {
	refused := []codes.Code{codes.InvalidArgument}
	for _, c := range []struct {
		name  string
		codes []codes.Code
		err   error
		want  string // fragment of the verdict; "" for none
	}{
		{"success wanted and got", nil, nil, ""},
		{"refusal wanted and got", refused, status.Error(codes.InvalidArgument, "name is empty"), ""},
		{"one of several codes", []codes.Code{codes.NotFound, codes.AlreadyExists}, status.Error(codes.AlreadyExists, "x"), ""},
		{"success wanted, refused", nil, status.Error(codes.Internal, "boom"), "want success"},
		{"refusal wanted, succeeded", refused, nil, "succeeded"},
		{"wrong code", refused, status.Error(codes.Internal, "boom"), "Internal"},
		{"plain error", refused, errors.New("boom"), "Unknown"},
		{"key in the message", refused, status.Error(codes.InvalidArgument, "bad key "+key), "holds the key"},
	} {
		got := Verdict(Abuse{Name: c.name, Codes: c.codes}, &csi.DeleteVolumeResponse{}, c.err, key)
		if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("%s: Verdict() = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestSecretsWith(t *testing.T) {
	c := &Controller{Secrets: map[string]string{"userID": "admin", "userKey": key}}
	if s := c.SecretsWith("userKey", "-"); len(s) != 1 || s["userID"] != "admin" {
		t.Errorf("SecretsWith(userKey, -) = %v", s)
	}
	if s := c.SecretsWith("userKey", "x"); s["userKey"] != "x" || s["userID"] != "admin" {
		t.Errorf("SecretsWith(userKey, x) = %v", s)
	}
	if c.Secrets["userKey"] != key || len(c.Secrets) != 2 {
		t.Errorf("SecretsWith changed the good secrets: %v", c.Secrets)
	}
}

// fakeController refuses CreateVolume without a name and deletes anything.
type fakeController struct {
	csi.UnimplementedControllerServer
	calls atomic.Int32
}

func (f *fakeController) CreateVolume(_ context.Context, req *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
	f.calls.Add(1)
	if req.GetName() == "" {
		return nil, status.Error(codes.InvalidArgument, "name is empty")
	}
	return &csi.CreateVolumeResponse{Volume: &csi.Volume{VolumeId: req.GetName()}}, nil
}

func (f *fakeController) DeleteVolume(context.Context, *csi.DeleteVolumeRequest) (*csi.DeleteVolumeResponse, error) {
	f.calls.Add(1)
	return &csi.DeleteVolumeResponse{}, nil
}

// TestCheckThroughServe sends abuses through Serve's gRPC connection: the
// codes arrive as the server set them, and an unimplemented call ends
// Unimplemented.
func TestCheckThroughServe(t *testing.T) {
	f := &fakeController{}
	client := Serve(t, f)
	c := &Controller{T: t, Client: client, Secrets: map[string]string{"userKey": key},
		NewVolume: func() *csi.CreateVolumeRequest {
			return &csi.CreateVolumeRequest{Name: "v", CapacityRange: &csi.CapacityRange{RequiredBytes: mib}}
		}}
	states := 0
	Check(t, t.Context, key, func() string { states++; return "same" }, []Abuse{
		c.Create("without a name", func(q *csi.CreateVolumeRequest) { q.Name = "" }, codes.InvalidArgument),
		Call("DeleteVolume of anything", func(ctx context.Context) (proto.Message, error) {
			return client.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: "x"})
		}),
		Call("ControllerPublishVolume", func(ctx context.Context) (proto.Message, error) {
			return client.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: "x"})
		}, codes.Unimplemented),
	})
	if n := f.calls.Load(); n != 2 {
		t.Errorf("the server saw %d calls, want 2", n)
	}
	if states != 6 {
		t.Errorf("state was taken %d times, want before and after each of 3 abuses", states)
	}
}
