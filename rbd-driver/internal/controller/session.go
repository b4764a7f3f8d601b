package controller

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/logging"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// Journal attributes of this driver (beside the journal's own keys).
const (
	// attrParentImageID is, on a snapshot record, the ID of the image that
	// holds the RBD snapshot; known at reservation.
	attrParentImageID = "csi.rbd.parentimageid"
	// attrSnapSize and attrSnapCreated describe a finished snapshot
	// (bytes; Unix nanoseconds), so that listing needs no image open.
	attrSnapSize    = "csi.rbd.snapsize"
	attrSnapCreated = "csi.rbd.snapcreated"
	// attrGroupSnapshotID is, on the record of a member of a volume group
	// snapshot, the group snapshot's CSI ID (reported as the snapshot's
	// group_snapshot_id by every snapshot RPC).
	attrGroupSnapshotID = "csi.rbd.groupsnapshotid"
)

// cluster is an open session on one cluster for one request.
type cluster struct {
	cfg    *clusterconfig.Cluster
	target backend.Target
	sess   backend.Session
}

func (c *cluster) ns() string { return c.cfg.RBD.RadosNamespace }

// pool returns the PoolRef of name in the cluster's RBD namespace.
func (c *cluster) pool(name string) backend.PoolRef {
	return backend.PoolRef{Pool: name, Namespace: c.ns()}
}

// connect looks the cluster up and opens a session on it; the caller
// releases it. o and field say how to report an unknown cluster ID.
func (s *Server) connect(ctx context.Context, o origin, field, clusterID string, creds *credentials.Credentials) (*cluster, error) {
	cfg, err := s.cfg.Clusters.Get(clusterID)
	if err != nil {
		return nil, lookupError(o, field, err)
	}
	target := backend.Target{ClusterID: clusterID, Monitors: cfg.Monitors, Creds: creds}
	sess, err := s.cfg.Backend.Connect(ctx, target)
	if err != nil {
		return nil, fmt.Errorf("connect to cluster %q: %w", clusterID, err)
	}
	return &cluster{cfg: cfg, target: target, sess: sess}, nil
}

// journals opens the volume or snapshot journal whose directory lives in
// dirPool and whose per-UUID objects live in imagePool.
func (s *Server) journal(ctx context.Context, c *cluster, kind journal.Kind, dirPool, imagePool string) (*journal.Journal, error) {
	objects, err := c.sess.ObjectStore(ctx, c.pool(imagePool))
	if err != nil {
		return nil, err
	}
	dir := objects
	if dirPool != imagePool {
		if dir, err = c.sess.ObjectStore(ctx, c.pool(dirPool)); err != nil {
			return nil, err
		}
	}
	return journal.New(dir, journal.Options{Kind: kind, Instance: s.cfg.InstanceID, UUIDStore: objects,
		UUIDStoreFor: c.objectsOf}), nil
}

// objectsOf returns the journal store of a pool ID: a shared journal pool's
// directory names the image pool of each entry.
func (c *cluster) objectsOf(ctx context.Context, poolID int64) (journal.ObjectStore, error) {
	pool, err := c.sess.PoolName(ctx, poolID)
	if err != nil {
		return nil, err
	}
	return c.sess.ObjectStore(ctx, c.pool(pool))
}

// object is a volume or snapshot found through its CSI ID.
type object struct {
	*cluster
	id        volid.ID
	idString  string
	imagePool string // the pool named by the ID
	dirPool   string // the journal directory's pool
	rec       *journal.Record
	j         *journal.Journal
	// stray is, for a ceph-csi record split over two pools (see
	// splitRecord), the image pool's journal holding the empty UUID
	// object; undo removes it too.
	stray *journal.Journal
}

// undo removes the object's journal record (and a split record's empty
// UUID object in the image pool).
func (o *object) undo(ctx context.Context) error {
	if err := o.j.Undo(ctx, o.rec); err != nil {
		return err
	}
	if o.stray != nil {
		return o.stray.Undo(ctx, &journal.Record{UUID: o.rec.UUID})
	}
	return nil
}

// open resolves a volume or snapshot ID to its journal record. Every way
// the object can be missing (malformed ID, unknown cluster or pool, no
// record) is a NotFound error naming field; the caller releases the
// session when err is nil.
func (s *Server) open(ctx context.Context, kind journal.Kind, field, id string, creds *credentials.Credentials) (*object, error) {
	vid, err := volid.Decode(id)
	if err != nil {
		return nil, notFound(field, "%q cannot exist: %v", id, err)
	}
	c, err := s.connect(ctx, fromID, field, vid.ClusterID, creds)
	if err != nil {
		return nil, err
	}
	o, err := s.lookup(ctx, c, kind, field, vid)
	if err != nil {
		c.sess.Release()
		return nil, err
	}
	o.idString = id
	return o, nil
}

func (s *Server) lookup(ctx context.Context, c *cluster, kind journal.Kind, field string, vid volid.ID) (*object, error) {
	pool, err := c.sess.PoolName(ctx, vid.LocationID)
	if err != nil {
		return nil, lookupError(fromID, field, err)
	}
	j, err := s.journal(ctx, c, kind, pool, pool)
	if err != nil {
		return nil, lookupError(fromID, field, err)
	}
	rec, err := j.Get(ctx, vid.UUID)
	if err != nil {
		return nil, err
	}
	o := &object{cluster: c, id: vid, imagePool: pool, dirPool: pool, rec: rec, j: j}
	if rec.RequestName == "" {
		if o, err = s.splitRecord(ctx, o, kind); err != nil {
			return nil, err
		}
		if o.rec.ImageName == "" {
			// ceph-csi's default for a record without csi.imagename.
			o.rec.ImageName = o.j.ImageNamePrefix() + vid.UUID
		}
		return o, nil
	}
	jp, err := c.journalPool(ctx, rec)
	if err != nil {
		return nil, err
	}
	c.upgradeJournalPool(ctx, j, rec, jp)
	if jp != "" && jp != pool {
		o.dirPool = jp
		if o.j, err = s.journal(ctx, c, kind, jp, pool); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// upgradeJournalPool rewrites a csi.journalpool that this driver's older
// versions wrote as a pool name into the 16-hex pool ID ceph-csi reads (a
// name makes the record unreadable for ceph-csi, which matters after a
// rollback). Best effort: a failure is logged and the request goes on.
func (c *cluster) upgradeJournalPool(ctx context.Context, j *journal.Journal, rec *journal.Record, pool string) {
	v := rec.Attributes[journal.KeyJournalPool]
	if v == "" {
		return
	}
	if id, _ := journal.ParseJournalPool(v); id != journal.SamePool {
		return
	}
	id, err := c.sess.PoolID(ctx, pool)
	if err == nil {
		err = j.SetAttributes(ctx, rec.UUID, map[string]string{journal.KeyJournalPool: journal.EncodePoolID(id)})
	}
	if err != nil {
		logging.FromContext(ctx).Warn("cannot rewrite a pool-name csi.journalpool as a pool ID",
			zap.String("uuid", rec.UUID), zap.Error(err))
		return
	}
	rec.Attributes[journal.KeyJournalPool] = journal.EncodePoolID(id)
}

// journalPool returns the name of the pool a record's csi.journalpool
// names ("" without one): a 16-hex pool ID as ceph-csi writes it, or a pool
// name in records of this driver's older versions.
func (c *cluster) journalPool(ctx context.Context, rec *journal.Record) (string, error) {
	v := rec.Attributes[journal.KeyJournalPool]
	if v == "" {
		return "", nil
	}
	id, name := journal.ParseJournalPool(v)
	if id == journal.SamePool {
		return name, nil
	}
	return c.sess.PoolName(ctx, id)
}

// release ends the object's session.
func (o *object) release() { o.sess.Release() }

// imageRef returns the ref of an image of the object's pool.
func (o *object) imageRef(name string) backend.ImageRef {
	return backend.ImageRef{PoolRef: o.pool(o.imagePool), Name: name}
}

// encodeID renders a CSI ID for a record in pool poolID.
func encodeID(clusterID string, poolID int64, uuid string) (string, error) {
	return volid.ID{ClusterID: clusterID, LocationID: poolID, UUID: uuid}.Encode()
}
