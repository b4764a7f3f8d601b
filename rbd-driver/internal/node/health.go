package node

import (
	"context"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Reasons of the health entries NodeGetVolumeHealth reports.
const (
	// reasonDeviceUnavailable: the device or its helper is gone, e.g.
	// rbd-fuse died ("transport endpoint is not connected").
	reasonDeviceUnavailable = "DeviceUnavailable"
	// reasonNotMounted: the staging or publish path lost its mount.
	reasonNotMounted = "NotMounted"
)

// NodeGetVolumeHealth reports the health of a staged volume: INACCESSIBLE
// when its device or helper is gone, or when its staging mount or the given
// publish path's mount is gone or broken. No entries means healthy.
func (s *Server) NodeGetVolumeHealth(ctx context.Context, req *csi.NodeGetVolumeHealthRequest) (*csi.NodeGetVolumeHealthResponse, error) {
	if err := required("volume_id", req.GetVolumeId()); err != nil {
		return nil, err
	}
	rec, err := s.stagedRecord(ctx, req.GetVolumeId(), req.GetStagingTargetPath())
	if err != nil {
		return nil, err
	}
	if p := req.GetStagingTargetPath(); p != "" && p != rec.StagingPath {
		return nil, status.Errorf(codes.NotFound, "volume %q is not staged at %s", rec.VolumeID, p)
	}
	health := &csi.VolumeHealth{VolumeId: rec.VolumeID}
	add := func(reason string, problem error) {
		if problem != nil {
			health.HealthStatuses = append(health.HealthStatuses, &csi.VolumeHealth_VolumeHealthEntry{
				Status: csi.VolumeHealthErrorType_INACCESSIBLE, Reason: reason, Message: problem.Error(),
			})
		}
	}
	add(reasonDeviceUnavailable, s.checkDevice(ctx, rec))
	add(reasonNotMounted, s.checkMounts(rec, req.GetVolumePublishPath()))
	return &csi.NodeGetVolumeHealthResponse{VolumeHealth: health}, nil
}
