package csifuzz

import (
	"errors"
	"fmt"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/protobuf/proto"

	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// CapacityRule says which capacity_bytes a driver may return.
type CapacityRule uint8

const (
	// CapacityPositive: every volume has a size (an RBD image).
	CapacityPositive CapacityRule = iota
	// CapacityZeroUnlimited: 0 means "no quota" (a CephFS subvolume),
	// which only a request without limit_bytes may get.
	CapacityZeroUnlimited
)

// CheckCreated checks a successful Controller response: the ID of a
// created volume or snapshot decodes, and the capacity of a created or
// expanded volume is inside r by rule. Other responses pass.
func CheckCreated(resp proto.Message, r *csi.CapacityRange, rule CapacityRule) error {
	switch resp := resp.(type) {
	case *csi.CreateVolumeResponse:
		if _, err := volid.Decode(resp.GetVolume().GetVolumeId()); err != nil {
			return fmt.Errorf("CreateVolume returned the volume ID %q: %w", resp.GetVolume().GetVolumeId(), err)
		}
		return capacityError("CreateVolume", resp.GetVolume().GetCapacityBytes(), r, rule)
	case *csi.ControllerExpandVolumeResponse:
		return capacityError("ControllerExpandVolume", resp.GetCapacityBytes(), r, rule)
	case *csi.CreateSnapshotResponse:
		if _, err := volid.Decode(resp.GetSnapshot().GetSnapshotId()); err != nil {
			return fmt.Errorf("CreateSnapshot returned the snapshot ID %q: %w", resp.GetSnapshot().GetSnapshotId(), err)
		}
	}
	return nil
}

// capacityError says what is wrong with got as the capacity method
// returned for the range r, or nil.
func capacityError(method string, got int64, r *csi.CapacityRange, rule CapacityRule) error {
	var err error
	switch {
	case got < 0:
		err = errors.New("negative")
	case got == 0 && rule == CapacityPositive:
		err = errors.New("not positive")
	case got == 0 && r.GetLimitBytes() > 0:
		err = errors.New("unlimited despite limit_bytes")
	case got > 0 && got < r.GetRequiredBytes():
		err = errors.New("below required_bytes")
	case r.GetLimitBytes() > 0 && got > r.GetLimitBytes():
		err = errors.New("above limit_bytes")
	}
	if err != nil {
		return fmt.Errorf("%s returned capacity_bytes %d: %w", method, got, err)
	}
	return nil
}
