package controller

import (
	"context"
	"errors"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// ValidateVolumeCapabilities confirms mount capabilities of any access mode
// (reader-only modes for shallow volumes). A missing volume is NotFound.
func (s *Server) ValidateVolumeCapabilities(ctx context.Context, req *csi.ValidateVolumeCapabilitiesRequest) (*csi.ValidateVolumeCapabilitiesResponse, error) {
	switch {
	case req.GetVolumeId() == "":
		return nil, status.Error(codes.InvalidArgument, "volume_id: missing")
	case len(req.GetVolumeCapabilities()) == 0:
		return nil, status.Error(codes.InvalidArgument, "volume_capabilities: missing")
	}
	creds, err := credentials.ForCephFSAdmin(req.GetSecrets())
	if err != nil {
		return nil, err
	}
	id, err := volid.Decode(req.GetVolumeId())
	if err != nil {
		return nil, status.Errorf(codes.NotFound, "volume_id %q: not found: %v", req.GetVolumeId(), err)
	}
	sc, err := s.scopeByID(ctx, id, "volume_id", creds, notFound)
	if err != nil {
		return nil, err
	}
	defer sc.close()
	rec, err := sc.vols.Get(ctx, id.UUID)
	if errors.Is(err, journal.ErrNotFound) {
		return nil, status.Errorf(codes.NotFound, "volume_id %q: volume not found", req.GetVolumeId())
	}
	if err != nil {
		return nil, toStatus(err)
	}
	backing, _ := backingSnapshot(rec)
	readOnly := backing != ""
	for _, c := range req.GetVolumeCapabilities() {
		if msg := capabilityError(c, readOnly); msg != "" {
			return &csi.ValidateVolumeCapabilitiesResponse{Message: msg}, nil
		}
	}
	return &csi.ValidateVolumeCapabilitiesResponse{Confirmed: &csi.ValidateVolumeCapabilitiesResponse_Confirmed{
		VolumeContext:      req.GetVolumeContext(),
		VolumeCapabilities: req.GetVolumeCapabilities(),
		Parameters:         req.GetParameters(),
	}}, nil
}
