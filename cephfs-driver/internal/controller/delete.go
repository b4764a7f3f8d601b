package controller

import (
	"context"
	"errors"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/logging"
	"github.com/seed-6a310834/ceph-csi/shared/oplock"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// DeleteVolume removes a volume's subvolume (retaining its snapshots, which
// stay usable) or a shallow volume's snapshot reference, then its journal
// record. A malformed or unknown ID, or a file system that is gone, is
// success; an ID naming a cluster that is not configured is
// InvalidArgument, since its subvolume cannot be reached.
func (s *Server) DeleteVolume(ctx context.Context, req *csi.DeleteVolumeRequest) (*csi.DeleteVolumeResponse, error) {
	err := s.deleteByID(ctx, idRequest{field: "volume_id", id: req.GetVolumeId(), lock: oplock.KindVolumeID,
		secrets: req.GetSecrets()}, s.deleteVolume)
	if err != nil {
		return nil, err
	}
	return &csi.DeleteVolumeResponse{}, nil
}

// idRequest is the part of a DeleteVolume or DeleteSnapshot request that
// deleteByID needs.
type idRequest struct {
	field   string // volume_id or snapshot_id
	id      string
	lock    string // oplock kind
	secrets map[string]string
}

// deleteByID is the common path of DeleteVolume and DeleteSnapshot: it
// validates the ID, takes the ID's lock, opens the scope and calls del with
// the UUID. A malformed ID, or a file system that is gone, is success (the
// object cannot exist); a cluster missing from the configuration is
// InvalidArgument, since the object cannot be reached.
func (s *Server) deleteByID(ctx context.Context, r idRequest, del func(context.Context, *scope, string) error) error {
	if r.id == "" {
		return status.Error(codes.InvalidArgument, r.field+": missing")
	}
	log := logging.FromContext(ctx)
	id, err := volid.Decode(r.id)
	if err != nil {
		log.Info("deleting a malformed ID: nothing to do", zap.String("field", r.field), zap.Error(err))
		return nil
	}
	creds, err := credentials.ForCephFSAdmin(r.secrets)
	if err != nil {
		return err
	}
	release, err := s.locks.Acquire(oplock.Key{Kind: r.lock, ID: r.id})
	if err != nil {
		return err
	}
	defer release()
	sc, err := s.scopeByID(ctx, id, r.field, creds, unknownCodes{cluster: codes.InvalidArgument, fs: codes.NotFound})
	if status.Code(err) == codes.NotFound {
		log.Info("file system is gone: nothing to do", zap.String("field", r.field), zap.Error(err))
		return nil
	}
	if err != nil {
		return err
	}
	defer sc.close()
	if err := del(ctx, sc, id.UUID); err != nil {
		return toStatus(err)
	}
	return nil
}

func (s *Server) deleteVolume(ctx context.Context, sc *scope, uuid string) error {
	rec, err := sc.vols.Get(ctx, uuid)
	if errors.Is(err, journal.ErrNotFound) {
		logging.FromContext(ctx).Info("volume not in the journal: already deleted")
		return nil
	}
	if err != nil {
		return err
	}
	if backing, _ := backingSnapshot(rec); backing != "" {
		release, err := s.locks.Acquire(oplock.Key{Kind: oplock.KindSnapshotID, ID: backing})
		if err != nil {
			return err
		}
		defer release()
	}
	if err := s.removeVolume(ctx, sc, rec); err != nil {
		return err
	}
	// Only now that the subvolume is gone may the reservation go.
	return sc.vols.Undo(ctx, rec)
}

// removeVolume removes what a volume record stands for: the subvolume
// (cancelling a clone in progress) and a clone's temporary snapshot, or a
// shallow volume's reference on its snapshot. Idempotent.
func (s *Server) removeVolume(ctx context.Context, sc *scope, rec *journal.Record) error {
	if backing, v0 := backingSnapshot(rec); backing != "" {
		return s.dropShallowVolume(ctx, sc, rec, backing, v0)
	}
	ref := sc.subvolume(rec.ImageName)
	err := sc.be.RemoveSubvolume(ctx, ref, false)
	if errors.Is(err, backend.ErrBusy) {
		logging.FromContext(ctx).Info("cancelling the clone before removing it", zap.Stringer("subvolume", ref))
		if err := sc.be.CancelClone(ctx, ref); err != nil {
			return err
		}
		err = sc.be.RemoveSubvolume(ctx, ref, true)
	}
	if err != nil {
		return err
	}
	if sv := rec.Attributes[attrCloneSubvolume]; sv != "" {
		return sc.be.RemoveSnapshot(ctx, sc.snapshot(sv, tmpSnapshotName(rec.UUID)))
	}
	return nil
}
