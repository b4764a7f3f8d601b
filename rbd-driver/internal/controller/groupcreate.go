package controller

// A volume group snapshot on RBD (ceph-csi's model since v3.13, adapted to
// Pacific):
//
//  1. the group record is reserved in the group pool (the class's
//     journalPool, else the volumes' pool, as ceph-csi) with its members
//     (source volume ID -> member snapshot ID; the member snapshot UUIDs
//     are derived from their request names, so they are known first), then
//     one snapshot record per member in ceph-csi's snapshot model
//     (csi.imagename csi-snap-<uuid>, csi.source the volume's image);
//  2. an RBD group csi-vol-group-<uuid> is created in the group pool, the
//     source images are added and the group is snapshotted: librbd takes
//     the snapshot of every member in one operation, crash-consistent
//     across the images;
//  3. each member's group snapshot becomes the image csi-snap-<uuid> (a
//     clone with rbd_clone4 where librbd has it, Reef and later; a full copy
//     on Pacific) and that image gets its snapshot csi-snap-<uuid>: exactly a
//     ceph-csi snapshot, which every snapshot RPC handles;
//  4. the group snapshot is removed, the images leave the group and the
//     group is removed (an image can be in only one group, and a later
//     group snapshot of the same volume needs a group of its own).
//
// Every step is idempotent; a retry after a crash at any point converges.

import (
	"context"
	"errors"
	"slices"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/logging"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// groupTake is one CreateVolumeGroupSnapshot at work.
type groupTake struct {
	*cluster
	p       *groupPlan
	srcs    []*object
	poolID  int64  // the sources' pool
	pool    string // the sources' pool (images, member snapshots)
	dirPool string // the sources' journal pool (member snapshot records)
	// groupPool holds the group record and the RBD group: the class's
	// journalPool, else pool (ceph-csi's CreateVolumeGroup).
	groupPool string
	snapJ     *journal.Journal
	groupJ    groupJournal
	rec       *groupRecord
	members   []*journal.Record // per source, in request order
}

func (s *Server) createGroupSnapshot(ctx context.Context, p *groupPlan) (*csi.VolumeGroupSnapshot, error) {
	t, err := s.openGroupSources(ctx, p)
	if err != nil {
		return nil, err
	}
	defer t.sess.Release()
	if err := s.reserveGroup(ctx, t); err != nil {
		return nil, err
	}
	if err := s.takeGroup(ctx, t); err != nil {
		s.abandonGroup(ctx, t, err)
		return nil, err
	}
	if err := t.dropRBDGroup(ctx); err != nil {
		return nil, err
	}
	return s.renderGroup(ctx, t.cluster, p.clusterID, t.groupPool, t.rec)
}

// dropRBDGroup removes the RBD group of a group snapshot of this driver
// (done, or left by a crash after the last member was made). A group
// snapshot ceph-csi made keeps its RBD group and group snapshot on a
// CreateVolumeGroupSnapshot retry: its members (rbd_clone4 clones) depend on
// them, and only its deletion removes them.
func (t *groupTake) dropRBDGroup(ctx context.Context) error {
	ours := slices.ContainsFunc(t.members, func(r *journal.Record) bool { return r.Attributes[attrGroupSnapshotID] != "" })
	if !ours {
		return nil
	}
	return removeRBDGroup(ctx, t.cluster, t.rbdGroup(), t.srcImages())
}

// abandonGroup undoes a group snapshot whose creation failed for good (an
// image in another group, a source that vanished): no external-snapshotter
// retry would finish it, and a VolumeGroupSnapshot deleted before it got an
// ID is never deleted through the driver. Failures that may pass (the
// cluster unreachable, a timeout) keep everything for the retry.
func (s *Server) abandonGroup(ctx context.Context, t *groupTake, cause error) {
	switch status.Code(toStatus(cause)) {
	case codes.FailedPrecondition, codes.NotFound, codes.InvalidArgument, codes.AlreadyExists, codes.PermissionDenied:
	default:
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := s.removeGroup(ctx, t.cluster, t.groupPool, t.groupJ, t.rec); err != nil {
		logging.FromContext(ctx).Warn("cannot undo a failed group snapshot; DeleteVolumeGroupSnapshot of its ID finishes it",
			zap.String("name", t.p.name), zap.Error(err))
	}
}

// openGroupSources resolves every source volume on one session and checks
// that they share a pool and journal pool.
func (s *Server) openGroupSources(ctx context.Context, p *groupPlan) (*groupTake, error) {
	first, err := s.open(ctx, journal.Volumes, "source_volume_ids", p.sources[0], p.creds)
	if err != nil {
		return nil, missingSource(p.sources[0], err)
	}
	t := &groupTake{cluster: first.cluster, p: p, srcs: []*object{first}, pool: first.imagePool,
		dirPool: first.dirPool, poolID: first.id.LocationID}
	if err := s.addGroupSources(ctx, t); err != nil {
		t.sess.Release()
		return nil, err
	}
	return t, nil
}

func (s *Server) addGroupSources(ctx context.Context, t *groupTake) error {
	for _, id := range t.p.sources[1:] {
		vid, _ := volid.Decode(id) // checked by newGroupPlan
		o, err := s.lookup(ctx, t.cluster, journal.Volumes, "source_volume_ids", vid)
		if err != nil {
			return missingSource(id, err)
		}
		o.idString = id
		if o.imagePool != t.pool || o.dirPool != t.dirPool {
			return invalidArg("source_volume_ids",
				"volumes of one group snapshot must be in one cluster and pool: %q is in pool %q, %q in %q",
				t.p.sources[0], t.pool, id, o.imagePool)
		}
		t.srcs = append(t.srcs, o)
	}
	for _, o := range t.srcs {
		if err := o.knownImageID(ctx); err != nil {
			return err
		}
		if o.rec.ImageID == "" {
			return status.Errorf(codes.Unavailable, "source_volume_ids: volume %q is not ready yet", o.idString)
		}
		if err := notEncrypted("source_volume_ids", o.idString, o.rec); err != nil {
			return err
		}
	}
	return t.checkParams()
}

// missingSource names the source volume a lookup did not find.
func missingSource(id string, err error) error {
	var fe *fieldError
	if isNotFound(err) && !errors.As(err, &fe) {
		return notFound("source_volume_ids", "volume %q does not exist: %v", id, err)
	}
	return err
}

func (t *groupTake) checkParams() error {
	if c := t.p.params[paramClusterID]; c != "" && c != t.p.clusterID {
		return invalidArg("parameters."+paramClusterID, "%q is not the source volumes' cluster %q", c, t.p.clusterID)
	}
	if pool := t.p.params[paramPool]; pool != "" && pool != t.pool {
		return invalidArg("parameters."+paramPool,
			"%q: group snapshots live in the source volumes' pool %q", pool, t.pool)
	}
	return nil
}

func (t *groupTake) rbdGroup() backend.GroupRef {
	return backend.GroupRef{PoolRef: t.cluster.pool(t.groupPool), Name: t.rec.GroupName}
}

func (t *groupTake) srcImages() []backend.ImageRef {
	out := make([]backend.ImageRef, len(t.srcs))
	for i, o := range t.srcs {
		out[i] = o.imageRef(o.rec.ImageName)
	}
	return out
}

// memberName is the request name of a member snapshot: unique per group
// snapshot and source volume, so that a retry finds it again.
// It is ceph-csi's (journal.GroupMemberRequestName).
func memberName(groupName, sourceID string) string {
	return journal.GroupMemberRequestName(groupName, sourceID)
}

// reserveGroup finds or reserves the group record and its member records.
// A known name with another set of sources: AlreadyExists.
func (s *Server) reserveGroup(ctx context.Context, t *groupTake) error {
	if err := s.groupJournals(ctx, t); err != nil {
		return err
	}
	planned := map[string]string{}
	for _, o := range t.srcs {
		uuid, _ := t.snapJ.Planned(journal.Reservation{RequestName: memberName(t.p.name, o.idString)})
		id, err := encodeID(t.p.clusterID, t.poolID, uuid)
		if err != nil {
			return err
		}
		planned[o.idString] = id
	}
	rec, err := s.lookupGroup(ctx, t)
	switch {
	case errors.Is(err, journal.ErrNotFound):
		rec, err = t.groupJ.Reserve(ctx, t.p.name, t.p.params[paramVolumeGroupNamePrefix])
	case err == nil && len(rec.Members) > 0 && !sameKeys(rec.Members, planned):
		return alreadyExists("name", "group snapshot %q already exists for other volumes", t.p.name)
	}
	if err != nil {
		return err
	}
	// A reservation whose members were not written yet (a crash between
	// the two writes) gets them now.
	if len(rec.Members) == 0 {
		if err := t.groupJ.AddMembers(ctx, rec.UUID, planned); err != nil {
			return err
		}
		rec.Members = planned
	}
	t.rec = rec
	return s.reserveMembers(ctx, t)
}

func sameKeys(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			return false
		}
	}
	return true
}

func (s *Server) groupJournals(ctx context.Context, t *groupTake) error {
	var err error
	if t.snapJ, err = s.journal(ctx, t.cluster, journal.Snapshots, t.dirPool, t.pool); err != nil {
		return err
	}
	if t.poolID, err = t.sess.PoolID(ctx, t.pool); err != nil {
		return err
	}
	t.groupPool = t.pool
	if jp := t.p.params[paramJournalPool]; jp != "" {
		if _, err := t.sess.PoolID(ctx, jp); err != nil {
			return lookupError(fromParameters, "parameters."+paramJournalPool, err)
		}
		t.groupPool = jp
	}
	t.groupJ, err = s.groupJournalIn(ctx, t.cluster, t.groupPool)
	return err
}

func (s *Server) groupJournalIn(ctx context.Context, c *cluster, pool string) (groupJournal, error) {
	store, err := c.sess.ObjectStore(ctx, c.pool(pool))
	if err != nil {
		return nil, err
	}
	return newGroupJournal(store, s.cfg.InstanceID), nil
}

// lookupGroup finds the group record of the request name in the group
// pool, else in the sources' journal pool, where this driver's earlier
// versions kept it; found there, the group stays there.
func (s *Server) lookupGroup(ctx context.Context, t *groupTake) (*groupRecord, error) {
	rec, err := t.groupJ.Lookup(ctx, t.p.name)
	if !errors.Is(err, journal.ErrNotFound) || t.dirPool == t.groupPool {
		return rec, err
	}
	gj, err := s.groupJournalIn(ctx, t.cluster, t.dirPool)
	if err != nil {
		return nil, err
	}
	if rec, err = gj.Lookup(ctx, t.p.name); err == nil {
		t.groupJ, t.groupPool = gj, t.dirPool
		return rec, nil
	}
	return nil, err
}
