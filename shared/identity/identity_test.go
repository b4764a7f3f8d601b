package identity

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		wantErr string
	}{
		{name: "rbd", input: "rbd.csi.ceph.com"},
		{name: "cephfs", input: "cephfs.csi.ceph.com"},
		{name: "single char", input: "a"},
		{name: "digits and dashes", input: "0-csi.example-1.io"},
		{name: "upper case allowed by spec", input: "Example.COM"},
		{name: "max length", input: strings.Repeat("a", MaxNameLength)},
		{name: "empty", input: "", wantErr: "must not be empty"},
		{name: "too long", input: strings.Repeat("a", MaxNameLength+1), wantErr: "at most 63"},
		{name: "leading dot", input: ".csi.ceph.com", wantErr: "begin and end"},
		{name: "trailing dash", input: "csi.ceph-", wantErr: "begin and end"},
		{name: "underscore", input: "rbd_csi.ceph.com", wantErr: "contains '_'"},
		{name: "slash", input: "rbd/csi", wantErr: "contains '/'"},
		{name: "space", input: "rbd csi", wantErr: "contains ' '"},
		{name: "non ascii", input: "rbd.cśi.com", wantErr: "only letters"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateName(tc.input)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("ValidateName(%q) = %v, want nil", tc.input, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("ValidateName(%q) = %v, want error containing %q", tc.input, err, tc.wantErr)
			}
		})
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{name: "bad name", cfg: Config{Name: "-bad", Version: "v1"}},
		{name: "missing version", cfg: Config{Name: "rbd.csi.ceph.com"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); err == nil {
				t.Fatalf("New(%+v) succeeded, want error", tc.cfg)
			}
		})
	}
}

func TestGetPluginInfo(t *testing.T) {
	srv := mustNew(t, Config{Name: "rbd.csi.ceph.com", Version: "v1.2.3"})
	resp, err := srv.GetPluginInfo(context.Background(), &csi.GetPluginInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetName() != "rbd.csi.ceph.com" || resp.GetVendorVersion() != "v1.2.3" {
		t.Fatalf("GetPluginInfo = %v", resp)
	}
}

func TestGetPluginCapabilities(t *testing.T) {
	caps := []*csi.PluginCapability{
		ServiceCapability(csi.PluginCapability_Service_CONTROLLER_SERVICE),
		ServiceCapability(csi.PluginCapability_Service_VOLUME_ACCESSIBILITY_CONSTRAINTS),
	}
	srv := mustNew(t, Config{Name: "rbd.csi.ceph.com", Version: "v1", Capabilities: caps})
	caps[0] = nil // the server must have its own copy of the slice

	resp, err := srv.GetPluginCapabilities(context.Background(), &csi.GetPluginCapabilitiesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	got := resp.GetCapabilities()
	want := []csi.PluginCapability_Service_Type{
		csi.PluginCapability_Service_CONTROLLER_SERVICE,
		csi.PluginCapability_Service_VOLUME_ACCESSIBILITY_CONSTRAINTS,
	}
	if len(got) != len(want) {
		t.Fatalf("got %d capabilities, want %d: %v", len(got), len(want), got)
	}
	for i := range want {
		if got[i].GetService().GetType() != want[i] {
			t.Errorf("capability %d = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestGetPluginCapabilitiesEmpty(t *testing.T) {
	srv := mustNew(t, Config{Name: "cephfs.csi.ceph.com", Version: "v1"})
	resp, err := srv.GetPluginCapabilities(context.Background(), &csi.GetPluginCapabilitiesRequest{})
	if err != nil || len(resp.GetCapabilities()) != 0 {
		t.Fatalf("GetPluginCapabilities = %v, %v; want no capabilities", resp, err)
	}
}

func TestProbe(t *testing.T) {
	tests := []struct {
		name     string
		probe    func(context.Context) error
		wantCode codes.Code
		wantMsg  string
	}{
		{name: "no probe func", probe: nil, wantCode: codes.OK},
		{name: "healthy", probe: func(context.Context) error { return nil }, wantCode: codes.OK},
		{
			name:     "plain error",
			probe:    func(context.Context) error { return errors.New("no monitors reachable") },
			wantCode: codes.FailedPrecondition,
			wantMsg:  "no monitors reachable",
		},
		{
			name:     "status error kept",
			probe:    func(context.Context) error { return status.Error(codes.Unavailable, "starting") },
			wantCode: codes.Unavailable,
			wantMsg:  "starting",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := mustNew(t, Config{Name: "rbd.csi.ceph.com", Version: "v1", Probe: tc.probe})
			resp, err := srv.Probe(context.Background(), &csi.ProbeRequest{})
			if code := status.Code(err); code != tc.wantCode {
				t.Fatalf("Probe code = %v (err %v), want %v", code, err, tc.wantCode)
			}
			if tc.wantCode == codes.OK {
				if !resp.GetReady().GetValue() {
					t.Fatalf("Probe ready = %v, want true", resp.GetReady())
				}
				return
			}
			if !strings.Contains(status.Convert(err).Message(), tc.wantMsg) {
				t.Fatalf("Probe error %v lacks %q", err, tc.wantMsg)
			}
		})
	}
}

func TestProbePassesContext(t *testing.T) {
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "v")
	var seen any
	srv := mustNew(t, Config{Name: "a.b", Version: "v1", Probe: func(ctx context.Context) error {
		seen = ctx.Value(key{})
		return nil
	}})
	if _, err := srv.Probe(ctx, &csi.ProbeRequest{}); err != nil {
		t.Fatal(err)
	}
	if seen != "v" {
		t.Fatalf("probe func did not receive the request context")
	}
}

func mustNew(t *testing.T, cfg Config) *Server {
	t.Helper()
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return srv
}
