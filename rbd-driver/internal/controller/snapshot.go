package controller

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/logging"
	"github.com/seed-6a310834/ceph-csi/shared/oplock"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// snapshotPlan is a validated CreateSnapshot request.
type snapshotPlan struct {
	name     string
	sourceID string
	params   map[string]string
	creds    *credentials.Credentials
}

func newSnapshotPlan(req *csi.CreateSnapshotRequest) (*snapshotPlan, error) {
	p := &snapshotPlan{name: req.GetName(), sourceID: req.GetSourceVolumeId(), params: req.GetParameters()}
	switch {
	case p.name == "":
		return nil, invalidArg("name", "is required")
	case p.sourceID == "":
		return nil, invalidArg("source_volume_id", "is required")
	}
	if err := checkSnapshotKeys(p.params); err != nil {
		return nil, err
	}
	var err error
	p.creds, err = credentials.ForRBD(req.GetSecrets())
	return p, err
}

// checkSnapshotKeys checks the VolumeSnapshotClass parameters against
// SnapshotClassParams (clusterID and pool must match the source volume,
// see checkSource).
func checkSnapshotKeys(params map[string]string) error {
	if err := checkTable(SnapshotClassParams, params); err != nil {
		return err
	}
	if v, ok := params[paramSnapNamePrefix]; ok {
		if v == "" {
			return invalidArg("parameters."+paramSnapNamePrefix, "is empty")
		}
		return checkName(paramSnapNamePrefix, v)
	}
	return nil
}

func hasK8sPrefix(k string) bool { return strings.HasPrefix(k, k8sPrefix) }

// CreateSnapshot takes (or, for a known name, returns) an RBD snapshot of
// the source volume's image.
func (s *Server) CreateSnapshot(ctx context.Context, req *csi.CreateSnapshotRequest) (*csi.CreateSnapshotResponse, error) {
	p, err := newSnapshotPlan(req)
	if err != nil {
		return nil, toStatus(err)
	}
	release, err := s.locks.Acquire(oplock.Key{Kind: oplock.KindSnapshotName, ID: p.name},
		oplock.Key{Kind: oplock.KindVolumeID, ID: p.sourceID})
	if err != nil {
		return nil, err
	}
	defer release()
	snap, err := s.createSnapshot(ctx, p)
	if err != nil {
		logging.FromContext(ctx).Info("CreateSnapshot failed", zap.String("name", p.name), zap.Error(err))
		return nil, toStatus(err)
	}
	return &csi.CreateSnapshotResponse{Snapshot: snap}, nil
}

func (s *Server) createSnapshot(ctx context.Context, p *snapshotPlan) (*csi.Snapshot, error) {
	src, err := s.open(ctx, journal.Volumes, "source_volume_id", p.sourceID, p.creds)
	if err != nil {
		return nil, err
	}
	defer src.release()
	if err := src.knownImageID(ctx); err != nil {
		return nil, err
	}
	if err := p.checkSource(src); err != nil {
		return nil, err
	}
	j, err := s.journal(ctx, src.cluster, journal.Snapshots, src.dirPool, src.imagePool)
	if err != nil {
		return nil, err
	}
	rec, err := j.Lookup(ctx, p.name)
	switch {
	case err == nil && isCephCSISnapshot(rec):
		return s.existingCephCSISnapshot(ctx, src, rec)
	case err == nil && rec.Source != p.sourceID:
		return nil, alreadyExists("name", "snapshot %q already exists for volume %q", p.name, rec.Source)
	case err == nil && rec.ImageID != "":
		return snapshotOf(src.id.ClusterID, src.id.LocationID, rec)
	case err == nil:
	case !errors.Is(err, journal.ErrNotFound):
		return nil, err
	default:
		if rec, err = s.reserveSnapshot(ctx, src, j, p); err != nil {
			return nil, err
		}
	}
	return s.takeSnapshot(ctx, src, j, rec)
}

// existingCephCSISnapshot answers the retry of a CreateSnapshot that
// ceph-csi served: the same snapshot when it was taken of this volume.
func (s *Server) existingCephCSISnapshot(ctx context.Context, src *object, rec *journal.Record) (*csi.Snapshot, error) {
	if rec.Source != src.rec.ImageName {
		return nil, alreadyExists("name", "snapshot %q already exists for the volume of image %q", rec.RequestName, rec.Source)
	}
	snap, err := cephCSISnapshot(ctx, src.cluster, src.id.ClusterID, src.id.LocationID, src.imagePool, rec)
	if errors.Is(err, backend.ErrNotFound) {
		return nil, status.Errorf(codes.FailedPrecondition,
			"snapshot %q: ceph-csi did not finish it (image %s or its snapshot is missing); delete it and retry",
			rec.RequestName, rec.ImageName)
	}
	return snap, err
}

func (p *snapshotPlan) checkSource(src *object) error {
	if c := p.params[paramClusterID]; c != "" && c != src.id.ClusterID {
		return invalidArg("parameters."+paramClusterID, "%q is not the source volume's cluster %q", c, src.id.ClusterID)
	}
	if pool := p.params[paramPool]; pool != "" && pool != src.imagePool {
		return invalidArg("parameters."+paramPool,
			"%q: snapshots live in the source volume's pool %q", pool, src.imagePool)
	}
	if src.rec.ImageID == "" {
		return status.Errorf(codes.Unavailable, "source_volume_id: volume %q is not ready yet", p.sourceID)
	}
	return notEncrypted("source_volume_id", p.sourceID, src.rec)
}

// reserveSnapshot checks the clone depth (a restore must stay within the
// hard limit) and reserves the snapshot name.
func (s *Server) reserveSnapshot(ctx context.Context, src *object, j *journal.Journal, p *snapshotPlan) (*journal.Record, error) {
	img := src.imageRef(src.rec.ImageName)
	depth, err := src.sess.Depth(ctx, img, "")
	if err != nil {
		return nil, err
	}
	if depth+1 > s.cfg.CloneHardDepth {
		return nil, s.flattenFirst(ctx, src.cluster, img, "source_volume_id", depth+1)
	}
	r := journal.Reservation{RequestName: p.name, Source: p.sourceID, ImagePoolID: journal.SamePool,
		NamePrefix: p.params[paramSnapNamePrefix],
		Attributes: map[string]string{attrParentImageID: src.rec.ImageID}}
	if src.dirPool != src.imagePool {
		dirID, err := src.sess.PoolID(ctx, src.dirPool)
		if err != nil {
			return nil, err
		}
		r.ImagePoolID = src.id.LocationID
		r.Attributes[journal.KeyJournalPool] = journal.EncodePoolID(dirID)
	}
	return j.Reserve(ctx, r)
}

// takeSnapshot creates the RBD snapshot of a reservation (adopting one left
// by an earlier attempt) and completes the record; on failure it undoes
// both.
func (s *Server) takeSnapshot(ctx context.Context, src *object, j *journal.Journal, rec *journal.Record) (*csi.Snapshot, error) {
	ref := backend.SnapRef{Image: src.imageRef(src.rec.ImageName), Snap: rec.ImageName}
	snap, err := src.sess.CreateSnapshot(ctx, ref)
	// An existing snapshot was left by an earlier attempt, or is a twin
	// request's in another process: a failure below must not remove it.
	adopted := errors.Is(err, backend.ErrExists)
	if adopted {
		snap, err = src.sess.SnapshotInfo(ctx, ref)
	}
	if err == nil {
		rec.ImageID = src.rec.ImageID
		rec.Attributes[attrSnapSize] = strconv.FormatUint(snap.Size, 10)
		rec.Attributes[attrSnapCreated] = strconv.FormatInt(snap.Created.UnixNano(), 10)
		err = j.SetAttributes(ctx, rec.UUID, map[string]string{journal.KeyImageID: rec.ImageID,
			attrSnapSize: rec.Attributes[attrSnapSize], attrSnapCreated: rec.Attributes[attrSnapCreated]})
	}
	if err != nil {
		if !adopted {
			s.abandonSnapshot(ctx, src, j, ref, rec)
		}
		return nil, err
	}
	return snapshotOf(src.id.ClusterID, src.id.LocationID, rec)
}

func (s *Server) abandonSnapshot(ctx context.Context, src *object, j *journal.Journal, ref backend.SnapRef, rec *journal.Record) {
	log := logging.FromContext(ctx).With(zap.String("snapshot", ref.Snap))
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := src.sess.RemoveSnapshot(ctx, ref); err != nil {
		log.Warn("cannot remove the snapshot of a failed creation; keeping its reservation", zap.Error(err))
		return
	}
	if err := j.Undo(ctx, rec); err != nil {
		log.Warn("cannot undo the reservation of a failed snapshot", zap.Error(err))
	}
}

// snapshotOf renders a finished snapshot record.
func snapshotOf(clusterID string, poolID int64, rec *journal.Record) (*csi.Snapshot, error) {
	id, err := encodeID(clusterID, poolID, rec.UUID)
	if err != nil {
		return nil, err
	}
	size, _ := strconv.ParseInt(rec.Attributes[attrSnapSize], 10, 64)
	nanos, _ := strconv.ParseInt(rec.Attributes[attrSnapCreated], 10, 64)
	return &csi.Snapshot{
		SnapshotId:     id,
		SourceVolumeId: rec.Source,
		SizeBytes:      size,
		CreationTime:   timestamppb.New(time.Unix(0, nanos)),
		ReadyToUse:     rec.ImageID != "",
	}, nil
}

// DeleteSnapshot removes a snapshot. Unknown and malformed IDs succeed.
func (s *Server) DeleteSnapshot(ctx context.Context, req *csi.DeleteSnapshotRequest) (*csi.DeleteSnapshotResponse, error) {
	id := req.GetSnapshotId()
	if id == "" {
		return nil, toStatus(invalidArg("snapshot_id", "is required"))
	}
	if _, err := volid.Decode(id); err != nil {
		logging.FromContext(ctx).Info("DeleteSnapshot of a malformed ID: nothing to delete", zap.String("snapshot_id", id))
		return &csi.DeleteSnapshotResponse{}, nil
	}
	creds, err := credentials.ForRBD(req.GetSecrets())
	if err != nil {
		return nil, err
	}
	release, err := s.locks.Acquire(oplock.Key{Kind: oplock.KindSnapshotID, ID: id})
	if err != nil {
		return nil, err
	}
	defer release()
	if err := s.deleteSnapshot(ctx, id, creds); err != nil {
		logging.FromContext(ctx).Info("DeleteSnapshot failed", zap.String("snapshot_id", id), zap.Error(err))
		return nil, toStatus(err)
	}
	return &csi.DeleteSnapshotResponse{}, nil
}

func (s *Server) deleteSnapshot(ctx context.Context, id string, creds *credentials.Credentials) error {
	o, err := s.open(ctx, journal.Snapshots, "snapshot_id", id, creds)
	if err != nil {
		if isNotFound(err) && !isUnknownCluster(err) {
			s.sweepAfterRetry(ctx, id, creds) // a tomb may be in the trash
			return nil
		}
		return err
	}
	defer o.release()
	if isCephCSISnapshot(o.rec) {
		return s.deleteCephCSISnapshot(ctx, o)
	}
	name, err := o.sess.ImageName(ctx, o.pool(o.imagePool), o.rec.Attributes[attrParentImageID])
	switch {
	case errors.Is(err, backend.ErrNotFound):
		// The image (a tomb, necessarily) is gone, or in the trash where an
		// attempt that failed before asking for its purge left it.
		if id := o.rec.Attributes[attrParentImageID]; id != "" {
			s.purge(ctx, o.cluster, o.pool(o.imagePool), tombName(id), id)
		}
	case err != nil:
		return err
	default:
		release, err := s.locks.Acquire(imageKey(o.imagePool, o.rec.Attributes[attrParentImageID]))
		if err != nil {
			return err
		}
		err = s.dropSnapshot(ctx, o, o.imageRef(name))
		release()
		if err != nil {
			return err
		}
	}
	return o.undo(ctx)
}

// dropSnapshot removes the RBD snapshot (clone v2 keeps it in the trash
// namespace while restored volumes use it) and retires a tomb that has no
// snapshot left.
func (s *Server) dropSnapshot(ctx context.Context, o *object, img backend.ImageRef) error {
	if err := o.sess.RemoveSnapshot(ctx, backend.SnapRef{Image: img, Snap: o.rec.ImageName}); err != nil {
		return err
	}
	if !isTomb(img.Name) {
		return nil
	}
	st, err := o.sess.Stat(ctx, img)
	if errors.Is(err, backend.ErrNotFound) {
		return s.finishTrashMove(ctx, o.cluster, img, strings.TrimPrefix(img.Name, tombPrefix))
	}
	if err != nil || len(st.Snapshots) > 0 {
		return err
	}
	return s.trash(ctx, o.cluster, img, st.ID)
}
