package controller

import (
	"context"
	"errors"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/oplock"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// ControllerExpandVolume raises the subvolume's quota; the node needs to do
// nothing. Shrinking is OutOfRange; the same size is success.
func (s *Server) ControllerExpandVolume(ctx context.Context, req *csi.ControllerExpandVolumeRequest) (*csi.ControllerExpandVolumeResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id: missing")
	}
	if req.GetCapacityRange() == nil {
		return nil, status.Error(codes.InvalidArgument, "capacity_range: missing")
	}
	size, err := volumeSize(req.GetCapacityRange())
	if err != nil {
		return nil, err
	}
	if size == 0 {
		return nil, status.Error(codes.InvalidArgument, "capacity_range: required_bytes or limit_bytes must be set")
	}
	if c := req.GetVolumeCapability(); c != nil {
		if msg := capabilityError(c, false); msg != "" {
			return nil, status.Errorf(codes.InvalidArgument, "volume_capability: %s", msg)
		}
	}
	creds, err := credentials.ForCephFSAdmin(req.GetSecrets())
	if err != nil {
		return nil, err
	}
	id, err := volid.Decode(req.GetVolumeId())
	if err != nil {
		return nil, status.Errorf(codes.NotFound, "volume_id %q: not found: %v", req.GetVolumeId(), err)
	}
	release, err := s.locks.Acquire(oplock.Key{Kind: oplock.KindVolumeID, ID: req.GetVolumeId()})
	if err != nil {
		return nil, err
	}
	defer release()
	sc, err := s.scopeByID(ctx, id, "volume_id", creds, notFound)
	if err != nil {
		return nil, err
	}
	defer sc.close()
	capacity, err := s.expand(ctx, sc, req.GetVolumeId(), id.UUID, size)
	if err != nil {
		return nil, toStatus(err)
	}
	return &csi.ControllerExpandVolumeResponse{CapacityBytes: capacity, NodeExpansionRequired: false}, nil
}

func (s *Server) expand(ctx context.Context, sc *scope, volID, uuid string, size int64) (int64, error) {
	rec, err := sc.vols.Get(ctx, uuid)
	if errors.Is(err, journal.ErrNotFound) {
		return 0, status.Errorf(codes.NotFound, "volume_id %q: volume not found", volID)
	}
	if err != nil {
		return 0, err
	}
	if backing, _ := backingSnapshot(rec); backing != "" {
		return 0, status.Errorf(codes.InvalidArgument, "volume_id %q: a shallow read-only volume cannot be expanded", volID)
	}
	ref := sc.subvolume(rec.ImageName)
	info, err := sc.be.SubvolumeInfo(ctx, ref)
	if err != nil {
		return 0, err
	}
	switch {
	case info.Quota == size:
		return size, nil
	case info.Quota > size:
		return 0, status.Errorf(codes.OutOfRange,
			"capacity_range: shrinking volume %q from %d to %d bytes is not supported", volID, info.Quota, size)
	}
	if err := sc.be.ResizeSubvolume(ctx, ref, size); err != nil {
		return 0, err
	}
	// Pacific's resize reply reports a zero quota: read the quota back.
	info, err = sc.be.SubvolumeInfo(ctx, ref)
	if err != nil {
		return 0, err
	}
	return info.Quota, nil
}
