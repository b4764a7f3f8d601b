package controller

import (
	"context"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
)

func TestValidateVolumeCapabilities(t *testing.T) {
	e := newEnv(t)
	vol := e.create(volReq("pvc-v", 0))
	mnmw := csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER
	tests := []struct {
		name    string
		caps    []*csi.VolumeCapability
		confirm bool
	}{
		{"single writer", []*csi.VolumeCapability{mountCap(snw)}, true},
		{"multi writer block", []*csi.VolumeCapability{blockCap(mnmw)}, true},
		{"multi writer mount", []*csi.VolumeCapability{mountCap(mnmw)}, false},
		{"read-only-many without source", []*csi.VolumeCapability{mountCap(csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY)}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := e.s.ValidateVolumeCapabilities(context.Background(), &csi.ValidateVolumeCapabilitiesRequest{
				VolumeId: vol.GetVolumeId(), VolumeCapabilities: tc.caps, Secrets: secrets()})
			if err != nil {
				t.Fatal(err)
			}
			if (resp.GetConfirmed() != nil) != tc.confirm || (!tc.confirm && resp.GetMessage() == "") {
				t.Fatalf("confirmed=%v message=%q, want confirmed=%v", resp.GetConfirmed() != nil, resp.GetMessage(), tc.confirm)
			}
		})
	}
	_, err := e.s.ValidateVolumeCapabilities(context.Background(), &csi.ValidateVolumeCapabilitiesRequest{
		VolumeId: "fake-vol-id-123", VolumeCapabilities: []*csi.VolumeCapability{mountCap(snw)}, Secrets: secrets()})
	wantCode(t, err, codes.NotFound, "volume_id")
	_, err = e.s.ValidateVolumeCapabilities(context.Background(), &csi.ValidateVolumeCapabilitiesRequest{
		VolumeId: vol.GetVolumeId(), Secrets: secrets()})
	wantCode(t, err, codes.InvalidArgument, "volume_capabilities")
	e.deleteVolume(vol.GetVolumeId())
	e.assertEmpty()
}

func TestExpandVolume(t *testing.T) {
	e := newEnv(t)
	vol := e.create(volReq("pvc-x", 10*mib))
	expand := func(size int64, c *csi.VolumeCapability) (*csi.ControllerExpandVolumeResponse, error) {
		return e.s.ControllerExpandVolume(context.Background(), &csi.ControllerExpandVolumeRequest{
			VolumeId: vol.GetVolumeId(), CapacityRange: &csi.CapacityRange{RequiredBytes: size},
			VolumeCapability: c, Secrets: secrets()})
	}
	resp, err := expand(20*mib+1, mountCap(snw))
	if err != nil || resp.GetCapacityBytes() != 21*mib || !resp.GetNodeExpansionRequired() {
		t.Fatalf("expand fs = %v, %v", resp, err)
	}
	resp, err = expand(30*mib, blockCap(snw))
	if err != nil || resp.GetCapacityBytes() != 30*mib || resp.GetNodeExpansionRequired() {
		t.Fatalf("expand block = %v, %v", resp, err)
	}
	resp, err = expand(5*mib, nil) // smaller: nothing to do
	if err != nil || resp.GetCapacityBytes() != 30*mib {
		t.Fatalf("shrink = %v, %v", resp, err)
	}
	_, err = e.s.ControllerExpandVolume(context.Background(), &csi.ControllerExpandVolumeRequest{VolumeId: vol.GetVolumeId(), Secrets: secrets()})
	wantCode(t, err, codes.InvalidArgument, "capacity_range")
	_, err = e.s.ControllerExpandVolume(context.Background(), &csi.ControllerExpandVolumeRequest{
		VolumeId: "fake", CapacityRange: &csi.CapacityRange{RequiredBytes: mib}, Secrets: secrets()})
	wantCode(t, err, codes.NotFound, "volume_id")
	e.deleteVolume(vol.GetVolumeId())
	e.assertEmpty()
}

func TestGetCapacity(t *testing.T) {
	e := newEnv(t)
	for _, params := range []map[string]string{nil, {"clusterID": testCluster, "pool": testPool}} {
		resp, err := e.s.GetCapacity(context.Background(), &csi.GetCapacityRequest{Parameters: params})
		if err != nil || resp.GetAvailableCapacity() != availBytes {
			t.Fatalf("GetCapacity(%v) = %v, %v", params, resp, err)
		}
	}
	_, err := e.s.GetCapacity(context.Background(), &csi.GetCapacityRequest{Parameters: map[string]string{"pool": "nope"}})
	wantCode(t, err, codes.InvalidArgument, "parameters.pool")
	_, err = e.s.GetCapacity(context.Background(), &csi.GetCapacityRequest{Parameters: map[string]string{"clusterID": "nope"}})
	wantCode(t, err, codes.InvalidArgument, "parameters.clusterID")
	e2 := newEnv(t, func(c *Config) { c.DefaultSecrets = nil })
	_, err = e2.s.GetCapacity(context.Background(), &csi.GetCapacityRequest{})
	wantCode(t, err, codes.Unimplemented)
}
