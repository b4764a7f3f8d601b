package controller

import (
	"context"
	"errors"
	"fmt"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// Reasons of the health entries the controller reports.
const (
	// reasonImageNotFound: the journal records the volume but its RBD
	// image is gone (removed outside the driver).
	reasonImageNotFound = "ImageNotFound"
	// reasonClusterUnavailable: the volume's cluster did not answer.
	reasonClusterUnavailable = "ClusterUnavailable"
)

// ControllerGetVolumeHealth reports a volume's health from the cluster's
// view: no entries when its image exists; INACCESSIBLE and DATA_LOSS
// (ImageNotFound) when the journal has the volume but the image is gone;
// INACCESSIBLE (ClusterUnavailable) when the cluster does not answer. A
// volume ID with no journal record is NotFound.
func (s *Server) ControllerGetVolumeHealth(ctx context.Context, req *csi.ControllerGetVolumeHealthRequest) (*csi.ControllerGetVolumeHealthResponse, error) {
	id := req.GetVolumeId()
	if id == "" {
		return nil, toStatus(invalidArg("volume_id", "is required"))
	}
	creds, err := s.credentials(req.GetSecrets())
	if err != nil {
		return nil, err
	}
	health := &csi.VolumeHealth{VolumeId: id}
	o, err := s.open(ctx, journal.Volumes, "volume_id", id, creds)
	if err == nil {
		defer o.release()
		if o.rec.ImageID == "" {
			return nil, toStatus(notFound("volume_id", "volume %q is still being created", id))
		}
		err = s.checkImage(ctx, o.cluster, o.imagePool, o.rec, health)
	}
	if err != nil && !unreachable(health, err) {
		return nil, toStatus(err)
	}
	return &csi.ControllerGetVolumeHealthResponse{VolumeHealth: health}, nil
}

// unreachable adds a ClusterUnavailable entry to health when err means the
// cluster did not answer, and says whether it did.
func unreachable(health *csi.VolumeHealth, err error) bool {
	if c := codeOf(err); c != codes.Unavailable && c != codes.DeadlineExceeded {
		return false
	}
	health.HealthStatuses = append(health.HealthStatuses, &csi.VolumeHealth_VolumeHealthEntry{
		Status: csi.VolumeHealthErrorType_INACCESSIBLE, Reason: reasonClusterUnavailable, Message: err.Error(),
	})
	return true
}

// checkImage adds the entries of a missing image to health: one round
// trip (the image's name by its ID).
func (s *Server) checkImage(ctx context.Context, c *cluster, pool string, rec *journal.Record, health *csi.VolumeHealth) error {
	_, err := c.sess.ImageName(ctx, c.pool(pool), rec.ImageID)
	if !errors.Is(err, backend.ErrNotFound) {
		return err
	}
	msg := fmt.Sprintf("RBD image %s/%s (id %s) does not exist", pool, rec.ImageName, rec.ImageID)
	for _, st := range []csi.VolumeHealthErrorType{csi.VolumeHealthErrorType_INACCESSIBLE, csi.VolumeHealthErrorType_DATA_LOSS} {
		health.HealthStatuses = append(health.HealthStatuses, &csi.VolumeHealth_VolumeHealthEntry{
			Status: st, Reason: reasonImageNotFound, Message: msg,
		})
	}
	return nil
}

// ControllerGetVolume returns a volume with its current size (0 when its
// image is gone: ControllerGetVolumeHealth reports that). The request has
// no secrets: the driver's own credentials are used.
func (s *Server) ControllerGetVolume(ctx context.Context, req *csi.ControllerGetVolumeRequest) (*csi.ControllerGetVolumeResponse, error) {
	id := req.GetVolumeId()
	if id == "" {
		return nil, toStatus(invalidArg("volume_id", "is required"))
	}
	creds, err := s.credentials(nil)
	if err != nil {
		return nil, err
	}
	o, err := s.open(ctx, journal.Volumes, "volume_id", id, creds)
	if err != nil {
		return nil, toStatus(err)
	}
	defer o.release()
	if o.rec.ImageID == "" {
		return nil, toStatus(notFound("volume_id", "volume %q is still being created", id))
	}
	vol := &csi.Volume{VolumeId: id}
	st, err := o.sess.Stat(ctx, o.imageRef(o.rec.ImageName))
	switch {
	case err == nil:
		vol.CapacityBytes = int64(st.Size)
	case !errors.Is(err, backend.ErrNotFound):
		return nil, toStatus(err)
	}
	return &csi.ControllerGetVolumeResponse{Volume: vol, Status: &csi.ControllerGetVolumeResponse_VolumeStatus{}}, nil
}

// volumeIDOf returns the CSI ID of a directory entry of pool dirPool.
func volumeIDOf(ctx context.Context, c *cluster, dirPool string, e journal.Entry) (id, imagePool string, err error) {
	poolID, imagePool := e.ImagePoolID, dirPool
	if poolID == journal.SamePool {
		if poolID, err = c.sess.PoolID(ctx, dirPool); err != nil {
			return "", "", err
		}
	} else if imagePool, err = c.sess.PoolName(ctx, poolID); err != nil {
		return "", "", err
	}
	id, err = volid.ID{ClusterID: c.target.ClusterID, LocationID: poolID, UUID: e.UUID}.Encode()
	return id, imagePool, err
}
