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
	if req.GetVolumeId() == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id: missing")
	}
	log := logging.FromContext(ctx)
	id, err := volid.Decode(req.GetVolumeId())
	if err != nil {
		log.Info("deleting a malformed volume ID: nothing to do", zap.Error(err))
		return &csi.DeleteVolumeResponse{}, nil
	}
	creds, err := credentials.ForCephFSAdmin(req.GetSecrets())
	if err != nil {
		return nil, err
	}
	release, err := s.locks.Acquire(oplock.Key{Kind: oplock.KindVolumeID, ID: req.GetVolumeId()})
	if err != nil {
		return nil, err
	}
	defer release()
	sc, err := s.scopeByID(ctx, id, "volume_id", creds, unknownCodes{cluster: codes.InvalidArgument, fs: codes.NotFound})
	if status.Code(err) == codes.NotFound {
		log.Info("file system of the volume is gone: nothing to do", zap.Error(err))
		return &csi.DeleteVolumeResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer sc.close()
	if err := s.deleteVolume(ctx, sc, id.UUID); err != nil {
		return nil, toStatus(err)
	}
	return &csi.DeleteVolumeResponse{}, nil
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
	if backing := rec.Attributes[journal.KeyBackingSnapshotID]; backing != "" {
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
	if backing := rec.Attributes[journal.KeyBackingSnapshotID]; backing != "" {
		id, err := volid.Decode(backing)
		if err != nil {
			logging.FromContext(ctx).Warn("shallow volume with a malformed backing snapshot ID", zap.Error(err))
			return nil
		}
		return dropSnapshotUser(ctx, sc.store, id.UUID, rec.UUID)
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
