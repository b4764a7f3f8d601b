package controller

import (
	"context"
	"errors"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
)

// splitRecord completes the lookup of a UUID object that names no request.
// ceph-csi, when journal and image pools differ (topology-constrained pools:
// the journal stays in the StorageClass pool), creates the UUID object empty
// in the image pool and writes the record's attributes to the object of
// the same name in the journal pool, whose csi.journalpool names that very
// pool. The pool is not in the ID, so the other pools are searched for it
// (only for such records; one omap read per pool). Found: the object reads
// and removes the record there and removes the empty one too. Not found:
// the record as it is (a reservation ceph-csi did not finish).
func (s *Server) splitRecord(ctx context.Context, o *object, kind journal.Kind) (*object, error) {
	pools, err := o.sess.Pools(ctx)
	if err != nil {
		return nil, err
	}
	for _, pool := range pools {
		if pool == o.imagePool {
			continue
		}
		j, rec, err := s.journalPoolRecord(ctx, o.cluster, kind, pool, o.id.UUID)
		if err != nil {
			return nil, err
		}
		if rec != nil {
			o.stray, o.j, o.rec, o.dirPool = o.j, j, rec, pool
			return o, nil
		}
	}
	return o, nil
}

// knownImageID fills in the image ID of a volume record written by a
// ceph-csi release that did not store csi.imageid, from its image (in
// memory only). A record without its image keeps the empty ID.
func (o *object) knownImageID(ctx context.Context) error {
	if o.rec.ImageID != "" {
		return nil
	}
	id, err := o.sess.ImageID(ctx, o.imageRef(o.rec.ImageName))
	if errors.Is(err, backend.ErrNotFound) {
		return nil
	}
	o.rec.ImageID = id
	return err
}

// journalPoolRecord reads the UUID object of id in pool and returns it
// when it is a complete record kept in its own journal pool.
func (s *Server) journalPoolRecord(ctx context.Context, c *cluster, kind journal.Kind, pool, id string) (*journal.Journal, *journal.Record, error) {
	j, err := s.journal(ctx, c, kind, pool, pool)
	if errors.Is(err, backend.ErrPermission) || errors.Is(err, backend.ErrPoolNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	rec, err := j.Get(ctx, id)
	if errors.Is(err, journal.ErrNotFound) || errors.Is(err, backend.ErrPermission) {
		return nil, nil, nil
	}
	if err != nil || rec.RequestName == "" {
		return nil, nil, err
	}
	if jp, err := c.journalPool(ctx, rec); err != nil || jp != pool {
		return nil, nil, err
	}
	return j, rec, nil
}
