package controller

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/reftracker"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/logging"
	"github.com/seed-6a310834/ceph-csi/shared/oplock"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// Journal attributes of snapshot records. The record's Source is the
// snapshotted subvolume's name and its ImageName the snapshot's name.
const (
	// attrSourceVolumeID is the CSI ID of the snapshotted volume.
	attrSourceVolumeID = "csi.cephfs.sourcevolumeid"
	// attrCreatedAt is the creation time (RFC 3339); set once the snapshot
	// exists, so a record without it is an unfinished reservation.
	attrCreatedAt = "csi.cephfs.createdat"
	// attrSubvolumePath is the snapshotted subvolume's path, which stays
	// valid after the subvolume is removed with retained snapshots.
	attrSubvolumePath = "csi.cephfs.subvolumepath"
	// attrGroupSnapshotID is the CSI ID of the volume group snapshot a
	// member snapshot belongs to.
	attrGroupSnapshotID = "csi.cephfs.groupsnapshotid"
	// attrSize (shared with volumes) is the source's quota: the snapshot's
	// restore size.
)

// CreateSnapshot takes a subvolume snapshot of the source volume.
func (s *Server) CreateSnapshot(ctx context.Context, req *csi.CreateSnapshotRequest) (*csi.CreateSnapshotResponse, error) {
	switch {
	case req.GetName() == "":
		return nil, status.Error(codes.InvalidArgument, "name: missing")
	case req.GetSourceVolumeId() == "":
		return nil, status.Error(codes.InvalidArgument, "source_volume_id: missing")
	}
	params, err := parseSnapshotParams(req.GetParameters())
	if err != nil {
		return nil, err
	}
	creds, err := credentials.ForCephFSAdmin(req.GetSecrets())
	if err != nil {
		return nil, err
	}
	id, err := volid.Decode(req.GetSourceVolumeId())
	if err != nil {
		return nil, status.Errorf(codes.NotFound, "source_volume_id %q: not found: %v", req.GetSourceVolumeId(), err)
	}
	if params.ClusterID != "" && params.ClusterID != id.ClusterID {
		return nil, status.Errorf(codes.InvalidArgument, "parameter %q: %q is not the cluster %q of source_volume_id",
			paramClusterID, params.ClusterID, id.ClusterID)
	}
	release, err := s.locks.Acquire(oplock.Key{Kind: oplock.KindSnapshotName, ID: req.GetName()},
		oplock.Key{Kind: oplock.KindVolumeID, ID: req.GetSourceVolumeId()})
	if err != nil {
		return nil, err
	}
	defer release()
	sc, err := s.scopeByID(ctx, id, "source_volume_id", creds, notFound)
	if err != nil {
		return nil, err
	}
	defer sc.close()
	snap, err := s.createSnapshot(ctx, sc, req, params, id.UUID)
	if err != nil {
		return nil, toStatus(err)
	}
	return &csi.CreateSnapshotResponse{Snapshot: snap}, nil
}

func (s *Server) createSnapshot(ctx context.Context, sc *scope, req *csi.CreateSnapshotRequest, params *snapshotParams, volUUID string) (*csi.Snapshot, error) {
	rec, err := sc.snaps.Lookup(ctx, req.GetName())
	switch {
	case err == nil:
		if snap, err := s.existingSnapshot(ctx, sc, rec, req.GetSourceVolumeId(), volUUID); !errors.Is(err, errSnapshotNotReady) {
			return snap, err
		}
	case !errors.Is(err, journal.ErrNotFound):
		return nil, err
	}
	vol, info, err := s.snapshotSourceVolume(ctx, sc, req.GetSourceVolumeId(), volUUID)
	if err != nil {
		return nil, err
	}
	existed := rec != nil
	if !existed {
		rec, err = sc.snaps.Reserve(ctx, journal.Reservation{
			RequestName: req.GetName(), NamePrefix: params.NamePrefix, ImagePoolID: journal.SamePool,
			Source: vol.ImageName, Attributes: map[string]string{attrSourceVolumeID: req.GetSourceVolumeId()},
		})
		if err != nil {
			return nil, err
		}
	}
	if err := s.takeSnapshot(ctx, sc, rec, info); err != nil {
		if !existed && isFinal(err) {
			s.undoSnapshot(ctx, sc, rec)
		}
		return nil, err
	}
	return snapshotOf(ctx, sc, rec)
}

// existingSnapshot answers a CreateSnapshot whose name has a record: the
// snapshot if it is taken and of the same source, AlreadyExists if of
// another source, errSnapshotNotReady if our reservation is unfinished.
// For ceph-csi's record, whose source is a subvolume name, the source
// volume's record names the subvolume to compare; a record whose
// subvolume snapshot is missing is completed by taking it (ceph-csi
// itself would re-reserve the name).
func (s *Server) existingSnapshot(ctx context.Context, sc *scope, rec *journal.Record, volID, volUUID string) (*csi.Snapshot, error) {
	if !foreignSnapshot(rec) {
		if got := rec.Attributes[attrSourceVolumeID]; got != volID {
			return nil, status.Errorf(codes.AlreadyExists, "snapshot %q exists for another source volume %q", rec.RequestName, got)
		}
		return snapshotOf(ctx, sc, rec)
	}
	vol, err := sc.vols.Get(ctx, volUUID)
	if errors.Is(err, journal.ErrNotFound) {
		return nil, status.Errorf(codes.NotFound, "source_volume_id %q: volume not found", volID)
	}
	if err != nil {
		return nil, err
	}
	if vol.ImageName != rec.Source {
		return nil, status.Errorf(codes.AlreadyExists, "snapshot %q exists for another source subvolume %q (requested %q)",
			rec.RequestName, rec.Source, vol.ImageName)
	}
	snap, err := snapshotOf(ctx, sc, rec)
	if !errors.Is(err, errSnapshotNotReady) {
		return snap, err
	}
	if err := sc.be.CreateSnapshot(ctx, sc.snapshot(rec.Source, rec.ImageName)); err != nil {
		return nil, err
	}
	return snapshotOf(ctx, sc, rec)
}

// snapshotSourceVolume returns the record and subvolume info of the volume
// to snapshot: NotFound if missing, InvalidArgument for a shallow volume.
func (s *Server) snapshotSourceVolume(ctx context.Context, sc *scope, volID, uuid string) (*journal.Record, *backend.SubvolumeInfo, error) {
	vol, err := sc.vols.Get(ctx, uuid)
	if errors.Is(err, journal.ErrNotFound) {
		return nil, nil, status.Errorf(codes.NotFound, "source_volume_id %q: volume not found", volID)
	}
	if err != nil {
		return nil, nil, err
	}
	if backing, _ := backingSnapshot(vol); backing != "" {
		return nil, nil, status.Errorf(codes.InvalidArgument,
			"source_volume_id %q: a shallow volume cannot be snapshotted; use its backing snapshot", volID)
	}
	if err := notEncrypted("source_volume_id", volID, vol); err != nil {
		return nil, nil, err
	}
	info, err := sc.be.SubvolumeInfo(ctx, sc.subvolume(vol.ImageName))
	if errors.Is(err, backend.ErrNotFound) {
		return nil, nil, status.Errorf(codes.NotFound, "source_volume_id %q: subvolume %s not found", volID, vol.ImageName)
	}
	return vol, info, err
}

// takeSnapshot creates the snapshot and completes its record with the
// creation time, the restore size and the subvolume path.
func (s *Server) takeSnapshot(ctx context.Context, sc *scope, rec *journal.Record, info *backend.SubvolumeInfo) error {
	if err := sc.be.CreateSnapshot(ctx, sc.snapshot(rec.Source, rec.ImageName)); err != nil {
		return err
	}
	return recordSnapshot(ctx, sc, rec, info)
}

// recordSnapshot completes the record of a taken snapshot with the creation
// time, the restore size and the subvolume path.
func recordSnapshot(ctx context.Context, sc *scope, rec *journal.Record, info *backend.SubvolumeInfo) error {
	ref := sc.snapshot(rec.Source, rec.ImageName)
	// Ceph's own creation time, so that twin requests in two processes
	// (and a retry) record and answer the same time.
	snap, err := sc.be.SnapshotInfo(ctx, ref)
	if err != nil {
		return err
	}
	size := info.Quota
	if size == 0 {
		size = info.Used
	}
	attrs := map[string]string{
		attrCreatedAt:     snap.CreatedAt.UTC().Format(time.RFC3339Nano),
		attrSize:          strconv.FormatInt(size, 10),
		attrSubvolumePath: info.Path,
	}
	if err := sc.snaps.SetAttributes(ctx, rec.UUID, attrs); err != nil {
		return err
	}
	for k, v := range attrs {
		rec.Attributes[k] = v
	}
	return nil
}

func (s *Server) undoSnapshot(ctx context.Context, sc *scope, rec *journal.Record) {
	log := logging.FromContext(ctx).With(zap.String("snapshot", rec.ImageName))
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	if err := sc.be.RemoveSnapshot(ctx, sc.snapshot(rec.Source, rec.ImageName)); err != nil {
		log.Warn("rollback: snapshot left behind", zap.Error(err))
		return
	}
	if err := sc.snaps.Undo(ctx, rec); err != nil {
		log.Warn("rollback: reservation left behind", zap.Error(err))
	}
}

// snapshotOf builds the CSI snapshot of a record (errSnapshotNotReady if
// the snapshot is not taken yet).
func snapshotOf(ctx context.Context, sc *scope, rec *journal.Record) (*csi.Snapshot, error) {
	v, err := viewSnapshot(ctx, sc, rec)
	if err != nil {
		return nil, err
	}
	return v.csiSnapshot(sc)
}

// DeleteSnapshot removes a snapshot and its record. A malformed or unknown
// ID is success. A snapshot backing shallow volumes is refused with
// FailedPrecondition, as is one with clones still running. Removing the
// last snapshot of a volume deleted with retained snapshots makes Ceph
// remove that subvolume.
func (s *Server) DeleteSnapshot(ctx context.Context, req *csi.DeleteSnapshotRequest) (*csi.DeleteSnapshotResponse, error) {
	err := s.deleteByID(ctx, idRequest{field: "snapshot_id", id: req.GetSnapshotId(), lock: oplock.KindSnapshotID,
		secrets: req.GetSecrets()}, s.deleteSnapshot)
	if err != nil {
		return nil, err
	}
	return &csi.DeleteSnapshotResponse{}, nil
}

func (s *Server) deleteSnapshot(ctx context.Context, sc *scope, uuid string) error {
	rec, err := sc.snaps.Get(ctx, uuid)
	if errors.Is(err, journal.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	snapID, err := sc.encodeID(uuid)
	if err != nil {
		return err
	}
	users, err := snapshotUsers(ctx, sc, snapID, rec.UUID)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return status.Errorf(codes.FailedPrecondition,
			"snapshot backs %d shallow volume(s) (%v); delete them first", len(users), users)
	}
	// Drop the snapshot's own reference (with the tracker) first: a crash
	// after it leaves no tracker, and the retry removes the snapshot.
	gone, err := reftracker.Remove(ctx, sc.store, trackerName(snapID),
		map[string]reftracker.Type{snapID: reftracker.Masked}, nil)
	if err != nil || !gone {
		// !gone: a shallow volume was added meanwhile by another process;
		// as in ceph-csi, the snapshot now goes with its last volume.
		return err
	}
	if err := sc.be.RemoveSnapshot(ctx, sc.snapshot(rec.Source, rec.ImageName)); err != nil {
		return err
	}
	return sc.snaps.Undo(ctx, rec)
}
