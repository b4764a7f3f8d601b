package controller

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// Reasons of the health entries the controller reports.
const (
	// reasonSubvolumeNotFound: the journal records the volume but its
	// subvolume is gone (or, for a shallow volume, its backing snapshot).
	reasonSubvolumeNotFound = "SubvolumeNotFound"
	reasonSnapshotNotFound  = "BackingSnapshotNotFound"
	// reasonClusterUnavailable: the volume's cluster did not answer.
	reasonClusterUnavailable = "ClusterUnavailable"
)

// driverCredentials returns the request's admin credentials, or the
// driver's own (Config.CapacityCredentials) when it carries none.
func (s *Server) driverCredentials(secrets map[string]string) (*credentials.Credentials, error) {
	if len(secrets) == 0 && s.cfg.CapacityCredentials != nil {
		creds, err := s.cfg.CapacityCredentials()
		if err != nil {
			return nil, status.Errorf(codes.FailedPrecondition, "driver credentials: %v", err)
		}
		return creds, nil
	}
	return credentials.ForCephFSAdmin(secrets)
}

// ControllerGetVolumeHealth reports a volume's health from the cluster's
// view: no entries when its subvolume (or a shallow volume's backing
// snapshot) exists; INACCESSIBLE and DATA_LOSS when the journal has the
// volume but that is gone; INACCESSIBLE (ClusterUnavailable) when the
// cluster does not answer. A volume ID with no journal record is NotFound.
func (s *Server) ControllerGetVolumeHealth(ctx context.Context, req *csi.ControllerGetVolumeHealthRequest) (*csi.ControllerGetVolumeHealthResponse, error) {
	id := req.GetVolumeId()
	if id == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id: missing")
	}
	creds, err := s.driverCredentials(req.GetSecrets())
	if err != nil {
		return nil, err
	}
	health := &csi.VolumeHealth{VolumeId: id}
	sc, rec, err := s.openVolume(ctx, id, creds)
	if err == nil {
		defer sc.close()
		err = checkVolume(ctx, sc, rec, health)
	}
	if err != nil && !unreachable(health, err) {
		return nil, toStatus(err)
	}
	return &csi.ControllerGetVolumeHealthResponse{VolumeHealth: health}, nil
}

// openVolume opens the scope and journal record of a volume ID; every way
// the volume can be missing is NotFound. The caller closes the scope.
func (s *Server) openVolume(ctx context.Context, id string, creds *credentials.Credentials) (*scope, *journal.Record, error) {
	parsed, err := volid.Decode(id)
	if err != nil {
		return nil, nil, status.Errorf(codes.NotFound, "volume_id %q: %v", id, err)
	}
	sc, err := s.scopeByID(ctx, parsed, "volume_id", creds, notFound)
	if err != nil {
		return nil, nil, err
	}
	rec, err := sc.vols.Get(ctx, parsed.UUID)
	if err != nil {
		sc.close()
		if errors.Is(err, journal.ErrNotFound) {
			return nil, nil, status.Errorf(codes.NotFound, "volume_id %q: volume not found", id)
		}
		return nil, nil, err
	}
	return sc, rec, nil
}

// unreachable adds a ClusterUnavailable entry to health when err means the
// cluster did not answer, and says whether it did.
func unreachable(health *csi.VolumeHealth, err error) bool {
	c, ok := status.FromError(err)
	code := c.Code()
	if !ok {
		code = codeOf(err)
	}
	if code != codes.Unavailable && code != codes.DeadlineExceeded {
		return false
	}
	health.HealthStatuses = append(health.HealthStatuses, &csi.VolumeHealth_VolumeHealthEntry{
		Status: csi.VolumeHealthErrorType_INACCESSIBLE, Reason: reasonClusterUnavailable, Message: err.Error(),
	})
	return true
}

// checkVolume adds the entries of a missing subvolume or backing snapshot
// to health: one or two round trips.
func checkVolume(ctx context.Context, sc *scope, rec *journal.Record, health *csi.VolumeHealth) error {
	reason, what, err := missingPart(ctx, sc, rec)
	if err != nil || reason == "" {
		return err
	}
	for _, st := range []csi.VolumeHealthErrorType{csi.VolumeHealthErrorType_INACCESSIBLE, csi.VolumeHealthErrorType_DATA_LOSS} {
		health.HealthStatuses = append(health.HealthStatuses, &csi.VolumeHealth_VolumeHealthEntry{
			Status: st, Reason: reason, Message: what + " does not exist",
		})
	}
	return nil
}

// missingPart returns the reason and a description of what a volume lacks,
// or "" when nothing is missing.
func missingPart(ctx context.Context, sc *scope, rec *journal.Record) (reason, what string, err error) {
	backing := rec.Attributes[journal.KeyBackingSnapshotID]
	if backing == "" {
		ref := sc.subvolume(rec.ImageName)
		_, err := sc.be.SubvolumeInfo(ctx, ref)
		if errors.Is(err, backend.ErrNotFound) {
			return reasonSubvolumeNotFound, fmt.Sprintf("subvolume %s", ref), nil
		}
		return "", "", err
	}
	what = fmt.Sprintf("backing snapshot %s", backing)
	parsed, err := volid.Decode(backing)
	if err != nil {
		return reasonSnapshotNotFound, what, nil
	}
	snap, err := sc.snaps.Get(ctx, parsed.UUID)
	if err == nil {
		_, err = sc.be.SnapshotInfo(ctx, sc.snapshot(snap.Source, snap.ImageName))
	}
	if errors.Is(err, journal.ErrNotFound) || errors.Is(err, backend.ErrNotFound) {
		return reasonSnapshotNotFound, what, nil
	}
	return "", "", err
}

// ControllerGetVolume returns a volume with its quota (0 when the subvolume
// is gone: ControllerGetVolumeHealth reports that). The request has no
// secrets: the driver's own credentials are used.
func (s *Server) ControllerGetVolume(ctx context.Context, req *csi.ControllerGetVolumeRequest) (*csi.ControllerGetVolumeResponse, error) {
	id := req.GetVolumeId()
	if id == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id: missing")
	}
	creds, err := s.driverCredentials(nil)
	if err != nil {
		return nil, err
	}
	sc, rec, err := s.openVolume(ctx, id, creds)
	if err != nil {
		return nil, toStatus(err)
	}
	defer sc.close()
	vol := &csi.Volume{VolumeId: id}
	vol.CapacityBytes, _ = strconv.ParseInt(rec.Attributes[attrSize], 10, 64)
	if rec.Attributes[journal.KeyBackingSnapshotID] == "" {
		info, err := sc.be.SubvolumeInfo(ctx, sc.subvolume(rec.ImageName))
		switch {
		case err == nil:
			vol.CapacityBytes = info.Quota
		case errors.Is(err, backend.ErrNotFound):
			vol.CapacityBytes = 0
		default:
			return nil, toStatus(err)
		}
	}
	return &csi.ControllerGetVolumeResponse{Volume: vol, Status: &csi.ControllerGetVolumeResponse_VolumeStatus{}}, nil
}
