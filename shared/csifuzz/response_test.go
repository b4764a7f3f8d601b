package csifuzz

import (
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/protobuf/proto"
)

// TestCheckCreatedCapacity checks the capacity rules against the range of
// the request, for a created and an expanded volume.
func TestCheckCreatedCapacity(t *testing.T) {
	limited := &csi.CapacityRange{RequiredBytes: gib, LimitBytes: 2 * gib}
	open := &csi.CapacityRange{RequiredBytes: gib}
	cases := []struct {
		got  int64
		r    *csi.CapacityRange
		rule CapacityRule
		want string
	}{
		{gib, limited, CapacityPositive, ""},
		{2 * gib, limited, CapacityPositive, ""},
		{3 * gib, open, CapacityPositive, ""},
		{gib, nil, CapacityPositive, ""},
		{0, open, CapacityPositive, "not positive"},
		{0, open, CapacityZeroUnlimited, ""},
		{0, nil, CapacityZeroUnlimited, ""},
		{0, limited, CapacityZeroUnlimited, "unlimited despite limit_bytes"},
		{-1, open, CapacityZeroUnlimited, "negative"},
		{gib - 1, limited, CapacityZeroUnlimited, "below required_bytes"},
		{2*gib + 1, limited, CapacityPositive, "above limit_bytes"},
	}
	for _, tc := range cases {
		for _, resp := range []proto.Message{
			&csi.CreateVolumeResponse{Volume: &csi.Volume{VolumeId: testVolume, CapacityBytes: tc.got}},
			&csi.ControllerExpandVolumeResponse{CapacityBytes: tc.got},
		} {
			err := CheckCreated(resp, tc.r, tc.rule)
			if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("%T of %d for %v under rule %d: %v, want %q", resp, tc.got, tc.r, tc.rule, err, tc.want)
			}
		}
	}
}

// TestCheckCreatedIDs checks that created volumes and snapshots must have
// IDs that decode, and that other responses pass.
func TestCheckCreatedIDs(t *testing.T) {
	cases := []struct {
		resp proto.Message
		want string
	}{
		{&csi.CreateVolumeResponse{Volume: &csi.Volume{VolumeId: "csi-vol-1", CapacityBytes: gib}}, "volume ID"},
		{&csi.CreateSnapshotResponse{Snapshot: &csi.Snapshot{SnapshotId: testSnap}}, ""},
		{&csi.CreateSnapshotResponse{Snapshot: &csi.Snapshot{SnapshotId: testSnap + "x"}}, "snapshot ID"},
		{&csi.CreateSnapshotResponse{}, "snapshot ID"},
		{&csi.DeleteVolumeResponse{}, ""},
	}
	for _, tc := range cases {
		err := CheckCreated(tc.resp, nil, CapacityPositive)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%T %v: %v, want %q", tc.resp, tc.resp, err, tc.want)
		}
	}
}
