package controller

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"go.uber.org/zap"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/logging"
	"github.com/seed-6a310834/ceph-csi/shared/oplock"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// groupObject is a group snapshot found through its ID.
type groupObject struct {
	*cluster
	id     volid.ID
	pool   string // the journal pool (record and RBD group)
	groupJ groupJournal
	rec    *groupRecord
}

// openGroup resolves a group snapshot ID to its record; every way it can be
// missing is a NotFound naming field. The caller releases the session.
func (s *Server) openGroup(ctx context.Context, field, id string, creds *credentials.Credentials) (*groupObject, error) {
	vid, err := volid.Decode(id)
	if err != nil {
		return nil, notFound(field, "%q cannot exist: %v", id, err)
	}
	c, err := s.connect(ctx, fromID, field, vid.ClusterID, creds)
	if err != nil {
		return nil, err
	}
	g, err := s.findGroup(ctx, c, field, vid)
	if err != nil {
		c.sess.Release()
		return nil, err
	}
	return g, nil
}

func (s *Server) findGroup(ctx context.Context, c *cluster, field string, vid volid.ID) (*groupObject, error) {
	pool, err := c.sess.PoolName(ctx, vid.LocationID)
	if err != nil {
		return nil, lookupError(fromID, field, err)
	}
	store, err := c.sess.ObjectStore(ctx, c.pool(pool))
	if err != nil {
		return nil, lookupError(fromID, field, err)
	}
	g := &groupObject{cluster: c, id: vid, pool: pool, groupJ: newGroupJournal(store, s.cfg.InstanceID)}
	if g.rec, err = g.groupJ.Get(ctx, vid.UUID); err != nil {
		return nil, err
	}
	return g, nil
}

// checkSnapshotIDs checks the snapshot_ids a request may carry against the
// group's members.
func (g *groupObject) checkSnapshotIDs(ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	have := slices.Sorted(maps.Values(g.rec.Members))
	want := slices.Sorted(slices.Values(ids))
	if !slices.Equal(have, want) {
		return invalidArg("snapshot_ids", "%v are not the snapshots of group snapshot %s (%v)", ids, g.rec.UUID, have)
	}
	return nil
}

func (s *Server) deleteGroupSnapshot(ctx context.Context, id string, snapIDs []string, creds *credentials.Credentials) error {
	g, err := s.openGroup(ctx, "group_snapshot_id", id, creds)
	if err != nil {
		if isNotFound(err) && !isUnknownCluster(err) {
			logging.FromContext(ctx).Info("DeleteVolumeGroupSnapshot of an unknown ID: nothing to delete",
				zap.String("group_snapshot_id", id))
			return nil
		}
		return err
	}
	defer g.sess.Release()
	if err := g.checkSnapshotIDs(snapIDs); err != nil {
		return err
	}
	// The members are snapshots a DeleteSnapshot could be at work on.
	var keys []oplock.Key
	for _, id := range slices.Sorted(maps.Values(g.rec.Members)) {
		keys = append(keys, oplock.Key{Kind: oplock.KindSnapshotID, ID: id})
	}
	release, err := s.locks.Acquire(keys...)
	if err != nil {
		return err
	}
	defer release()
	return s.removeGroup(ctx, g.cluster, g.pool, g.groupJ, g.rec)
}

// removeGroup deletes the member snapshots (as DeleteSnapshot deletes a
// ceph-csi snapshot), whatever is left of the RBD group, and the record.
func (s *Server) removeGroup(ctx context.Context, c *cluster, pool string, gj groupJournal, rec *groupRecord) error {
	for _, snapID := range slices.Sorted(maps.Values(rec.Members)) {
		if err := s.deleteMember(ctx, c, snapID); err != nil {
			return err
		}
	}
	if err := removeRBDGroup(ctx, c, backend.GroupRef{PoolRef: c.pool(pool), Name: rec.GroupName}, nil); err != nil {
		return err
	}
	return gj.Undo(ctx, rec)
}

func (s *Server) deleteMember(ctx context.Context, c *cluster, snapID string) error {
	vid, err := volid.Decode(snapID)
	if err != nil {
		return fmt.Errorf("member snapshot ID %q: %w", snapID, journal.ErrCorrupt)
	}
	o, err := s.lookup(ctx, c, journal.Snapshots, "snapshot_id", vid)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	o.idString = snapID
	return s.deleteCephCSISnapshot(ctx, o)
}

func (s *Server) getGroupSnapshot(ctx context.Context, id string, snapIDs []string, creds *credentials.Credentials) (*csi.VolumeGroupSnapshot, error) {
	g, err := s.openGroup(ctx, "group_snapshot_id", id, creds)
	if err != nil {
		return nil, err
	}
	defer g.sess.Release()
	if err := g.checkSnapshotIDs(snapIDs); err != nil {
		return nil, err
	}
	return s.renderGroup(ctx, g.cluster, g.id.ClusterID, g.pool, g.rec)
}

// renderGroup renders a group snapshot record with its members (sorted by
// source volume ID). A member not finished yet is not ready to use.
func (s *Server) renderGroup(ctx context.Context, c *cluster, clusterID, pool string, rec *groupRecord) (*csi.VolumeGroupSnapshot, error) {
	poolID, err := c.sess.PoolID(ctx, pool)
	if err != nil {
		return nil, err
	}
	id, err := encodeID(clusterID, poolID, rec.UUID)
	if err != nil {
		return nil, err
	}
	gs := &csi.VolumeGroupSnapshot{GroupSnapshotId: id, CreationTime: timestamppb.New(rec.CreationTime), ReadyToUse: true}
	for _, vol := range slices.Sorted(maps.Keys(rec.Members)) {
		snap, err := s.renderMember(ctx, c, vol, rec.Members[vol])
		if err != nil {
			return nil, err
		}
		snap.GroupSnapshotId = id
		gs.ReadyToUse = gs.ReadyToUse && snap.ReadyToUse
		gs.Snapshots = append(gs.Snapshots, snap)
	}
	return gs, nil
}

func (s *Server) renderMember(ctx context.Context, c *cluster, volID, snapID string) (*csi.Snapshot, error) {
	pending := &csi.Snapshot{SnapshotId: snapID, SourceVolumeId: volID}
	vid, err := volid.Decode(snapID)
	if err != nil {
		return nil, fmt.Errorf("member snapshot ID %q: %w", snapID, journal.ErrCorrupt)
	}
	o, err := s.lookup(ctx, c, journal.Snapshots, "snapshot_id", vid)
	if isNotFound(err) {
		return pending, nil
	}
	if err != nil {
		return nil, err
	}
	if o.rec.ImageID == "" {
		return pending, nil
	}
	snap, err := cephCSISnapshot(ctx, c, vid.ClusterID, vid.LocationID, o.imagePool, o.rec)
	if errors.Is(err, backend.ErrNotFound) {
		return pending, nil
	}
	if err != nil {
		return nil, err
	}
	snap.SourceVolumeId = volID
	return snap, nil
}
