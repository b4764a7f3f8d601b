package controller

import (
	"context"
	"fmt"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/oplock"
)

// ValidateVolumeCapabilities confirms the capabilities the volume supports;
// a missing volume is NotFound.
func (s *Server) ValidateVolumeCapabilities(ctx context.Context, req *csi.ValidateVolumeCapabilitiesRequest) (*csi.ValidateVolumeCapabilitiesResponse, error) {
	switch {
	case req.GetVolumeId() == "":
		return nil, toStatus(invalidArg("volume_id", "is required"))
	case len(req.GetVolumeCapabilities()) == 0:
		return nil, toStatus(invalidArg("volume_capabilities", "at least one capability is required"))
	}
	creds, err := credentials.ForRBD(req.GetSecrets())
	if err != nil {
		return nil, err
	}
	o, err := s.open(ctx, journal.Volumes, "volume_id", req.GetVolumeId(), creds)
	if err != nil {
		return nil, toStatus(err)
	}
	defer o.release()
	hasSource := o.rec.Source != ""
	for i, c := range req.GetVolumeCapabilities() {
		if p := capabilityProblem(c, hasSource); p != "" {
			return &csi.ValidateVolumeCapabilitiesResponse{
				Message: fmt.Sprintf("volume_capabilities[%d]: %s", i, p),
			}, nil
		}
	}
	return &csi.ValidateVolumeCapabilitiesResponse{Confirmed: &csi.ValidateVolumeCapabilitiesResponse_Confirmed{
		VolumeContext:      req.GetVolumeContext(),
		VolumeCapabilities: req.GetVolumeCapabilities(),
		Parameters:         req.GetParameters(),
	}}, nil
}

// ControllerExpandVolume grows the image; a filesystem volume then needs
// NodeExpandVolume, a block volume does not.
func (s *Server) ControllerExpandVolume(ctx context.Context, req *csi.ControllerExpandVolumeRequest) (*csi.ControllerExpandVolumeResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, toStatus(invalidArg("volume_id", "is required"))
	}
	if req.GetCapacityRange() == nil {
		return nil, toStatus(invalidArg("capacity_range", "is required"))
	}
	size, err := parseCapacity(req.GetCapacityRange())
	if err != nil {
		return nil, toStatus(err)
	}
	creds, err := credentials.ForRBD(req.GetSecrets())
	if err != nil {
		return nil, err
	}
	now, err := s.expand(ctx, req.GetVolumeId(), size, creds)
	if err != nil {
		return nil, toStatus(err)
	}
	return &csi.ControllerExpandVolumeResponse{
		CapacityBytes:         now,
		NodeExpansionRequired: req.GetVolumeCapability().GetBlock() == nil,
	}, nil
}

func (s *Server) expand(ctx context.Context, id string, size sizeRequest, creds *credentials.Credentials) (int64, error) {
	release, err := s.locks.Acquire(oplock.Key{Kind: oplock.KindVolumeID, ID: id})
	if err != nil {
		return 0, err
	}
	defer release()
	o, err := s.open(ctx, journal.Volumes, "volume_id", id, creds)
	if err != nil {
		return 0, err
	}
	defer o.release()
	now, err := o.sess.Resize(ctx, o.imageRef(o.rec.ImageName), uint64(size.size))
	if err != nil {
		return 0, missingAsNotFound("volume_id", err)
	}
	if size.limit > 0 && int64(now) > size.limit {
		return 0, outOfRange("capacity_range", "the volume is already larger than limit_bytes")
	}
	if err := s.reapplyQoS(ctx, o, int64(now)); err != nil {
		return 0, err
	}
	return int64(now), nil
}

// reapplyQoS recomputes the size-dependent QoS limits of an image that
// has QoS parameters saved (a repeated expansion repeats it harmlessly).
func (s *Server) reapplyQoS(ctx context.Context, o *object, size int64) error {
	img := o.imageRef(o.rec.ImageName)
	md, err := o.sess.Metadata(ctx, img)
	if err != nil {
		return missingAsNotFound("volume_id", err)
	}
	if q := qosFromMetadata(md); q != nil {
		return applyQoS(ctx, o.sess, img, q, size)
	}
	return nil
}

// ControllerModifyVolume applies a VolumeAttributesClass: the mutable
// parameters replace the image's QoS (keys it no longer has are removed),
// with the size-dependent limits computed for the image's current size.
func (s *Server) ControllerModifyVolume(ctx context.Context, req *csi.ControllerModifyVolumeRequest) (*csi.ControllerModifyVolumeResponse, error) {
	id := req.GetVolumeId()
	if id == "" {
		return nil, toStatus(invalidArg("volume_id", "is required"))
	}
	q, err := parseQoS("mutable_parameters", req.GetMutableParameters())
	if err != nil {
		return nil, toStatus(err)
	}
	creds, err := s.credentials(req.GetSecrets())
	if err != nil {
		return nil, err
	}
	release, err := s.locks.Acquire(oplock.Key{Kind: oplock.KindVolumeID, ID: id})
	if err != nil {
		return nil, err
	}
	defer release()
	o, err := s.open(ctx, journal.Volumes, "volume_id", id, creds)
	if err != nil {
		return nil, toStatus(err)
	}
	defer o.release()
	img := o.imageRef(o.rec.ImageName)
	st, err := o.sess.Stat(ctx, img)
	if err == nil {
		err = applyQoS(ctx, o.sess, img, q, int64(st.Size))
	}
	if err != nil {
		return nil, toStatus(missingAsNotFound("volume_id", err))
	}
	return &csi.ControllerModifyVolumeResponse{}, nil
}

// GetCapacity reports the bytes still available in the pool of the
// parameters (or the whole cluster without a pool), using the driver's own
// credentials: the request carries none. clusterID may be omitted when the
// configuration holds a single cluster.
func (s *Server) GetCapacity(ctx context.Context, req *csi.GetCapacityRequest) (*csi.GetCapacityResponse, error) {
	if s.cfg.DefaultSecrets == nil {
		return nil, status.Error(codes.Unimplemented, "GetCapacity needs the driver's own credentials (--controller-secrets-dir)")
	}
	creds, err := s.credentials(nil)
	if err != nil {
		return nil, err
	}
	clusterID, err := s.capacityCluster(req.GetParameters()[paramClusterID])
	if err != nil {
		return nil, toStatus(err)
	}
	c, err := s.connect(ctx, fromParameters, "parameters."+paramClusterID, clusterID, creds)
	if err != nil {
		return nil, toStatus(err)
	}
	defer c.sess.Release()
	pool := req.GetParameters()[paramPool]
	avail, err := c.sess.AvailableBytes(ctx, pool)
	if err != nil {
		return nil, toStatus(lookupError(fromParameters, "parameters."+paramPool, err))
	}
	return &csi.GetCapacityResponse{AvailableCapacity: avail}, nil
}

func (s *Server) capacityCluster(clusterID string) (string, error) {
	if clusterID != "" {
		return clusterID, nil
	}
	all, err := s.cfg.Clusters.Clusters()
	if err != nil {
		return "", err
	}
	if len(all) != 1 {
		return "", invalidArg("parameters."+paramClusterID, "is required: the configuration has %d clusters", len(all))
	}
	return all[0].ClusterID, nil
}
