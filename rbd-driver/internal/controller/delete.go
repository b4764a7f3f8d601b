package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/logging"
	"github.com/seed-6a310834/ceph-csi/shared/oplock"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// tombPrefix names the hidden image a deleted volume with snapshots
// becomes: csi-tomb-<image ID>. Its snapshots stay cloneable by name (a
// trashed parent is not, on Pacific); it goes to the trash with its last
// snapshot.
const tombPrefix = "csi-tomb-"

func tombName(imageID string) string { return tombPrefix + imageID }

func isTomb(name string) bool { return strings.HasPrefix(name, tombPrefix) }

// DeleteVolume deletes a volume. Unknown and malformed IDs succeed (the
// volume does not exist); an ID naming a cluster missing from the
// configuration fails with NotFound rather than pretending the volume is
// gone while its image may remain.
func (s *Server) DeleteVolume(ctx context.Context, req *csi.DeleteVolumeRequest) (*csi.DeleteVolumeResponse, error) {
	id := req.GetVolumeId()
	if id == "" {
		return nil, toStatus(invalidArg("volume_id", "is required"))
	}
	log := logging.FromContext(ctx).With(zap.String("volume_id", id))
	if _, err := volid.Decode(id); err != nil {
		log.Info("DeleteVolume of a malformed ID: nothing to delete", zap.Error(err))
		return &csi.DeleteVolumeResponse{}, nil
	}
	creds, err := credentials.ForRBD(req.GetSecrets())
	if err != nil {
		return nil, err
	}
	release, err := s.locks.Acquire(oplock.Key{Kind: oplock.KindVolumeID, ID: id})
	if err != nil {
		return nil, err
	}
	defer release()
	if err := s.deleteVolume(ctx, id, creds); err != nil {
		log.Info("DeleteVolume failed", zap.Error(err))
		return nil, toStatus(err)
	}
	return &csi.DeleteVolumeResponse{}, nil
}

func (s *Server) deleteVolume(ctx context.Context, id string, creds *credentials.Credentials) error {
	o, err := s.open(ctx, journal.Volumes, "volume_id", id, creds)
	if err != nil {
		if isNotFound(err) && !isUnknownCluster(err) {
			s.sweepAfterRetry(ctx, id, creds)
			return nil
		}
		return err
	}
	defer o.release()
	img, err := s.currentImage(ctx, o)
	if err != nil {
		return err
	}
	if img != nil {
		release, err := s.lockImage(ctx, o, *img)
		if err != nil {
			return err
		}
		err = s.retire(ctx, o.cluster, *img, o.rec.ImageID)
		release()
		if err != nil {
			return err
		}
		if img.Name != o.rec.ImageName && isTomb(img.Name) {
			// Entombed by an attempt killed inside librbd's rename, which
			// may have left the old name's ID object behind.
			if err := o.sess.RemoveIDObject(ctx, o.imageRef(o.rec.ImageName), o.rec.ImageID); err != nil {
				return err
			}
		}
	} else if o.rec.ImageID != "" {
		// An earlier attempt may have moved the image to the trash and
		// failed (a lost reply) before its purge was asked for.
		s.purge(ctx, o.cluster, o.pool(o.imagePool), o.rec.ImageName, o.rec.ImageID)
	}
	if err := s.dropCephCSITemp(ctx, o); err != nil {
		return err
	}
	return o.undo(ctx)
}

// imageKey is the lock DeleteVolume and DeleteSnapshot share on a volume's
// image: DeleteVolume's look for snapshots and rename to the tomb must not
// interleave with DeleteSnapshot's removal of the last snapshot and its
// look for a tomb, or a tomb without snapshots would stay behind (seen in
// the e2e test deleting a volume and its snapshot at once). A request that
// finds it held is Aborted and retried.
func imageKey(pool, image string) oplock.Key {
	return oplock.Key{Kind: oplock.KindImage, ID: pool + "/" + image}
}

// lockImage takes imageKey for a volume's image, by the image's ID as
// DeleteSnapshot does: a record without csi.imageid (ceph-csi before
// v3.2) has it looked up. An image already gone is keyed by name: there
// is nothing left to race on.
func (s *Server) lockImage(ctx context.Context, o *object, img backend.ImageRef) (func(), error) {
	id := o.rec.ImageID
	if id == "" {
		var err error
		id, err = o.sess.ImageID(ctx, img)
		switch {
		case errors.Is(err, backend.ErrNotFound):
			id = img.Name
		case err != nil:
			return nil, err
		}
	}
	return s.locks.Acquire(imageKey(o.imagePool, id))
}

// cephCSITempSuffix names the hidden parent ceph-csi gives a volume cloned
// from a volume: it snapshots the source, clones it into <image>-temp,
// snapshots that and clones it into <image>, removing both snapshots (clone
// v2 keeps them in the trash namespace). ceph-csi deletes <image>-temp with
// the volume; so does this driver.
const cephCSITempSuffix = "-temp"

// dropCephCSITemp moves a volume's <image>-temp to the trash and has it
// purged (after the volume's own image, its child, if not flattened),
// whether or not the volume's image still has it as its parent: ceph-csi
// flattens clones, and deletes <image>-temp with the volume all the same.
// Only ceph-csi's temp image goes (isCephCSITemp), with the snapshot of
// it that a ceph-csi crash left. No such image: nothing to do.
func (s *Server) dropCephCSITemp(ctx context.Context, o *object) error {
	if o.rec.Source != "" {
		return nil // a clone of this driver: no temp image
	}
	ref := o.imageRef(o.rec.ImageName + cephCSITempSuffix)
	st, err := o.sess.Stat(ctx, ref)
	if errors.Is(err, backend.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !isCephCSITemp(o.rec, st) {
		logging.FromContext(ctx).Info("image named like ceph-csi's temporary clone image left alone",
			zap.String("image", ref.Name))
		return nil
	}
	if len(st.Snapshots) > 0 {
		if err := o.sess.RemoveSnapshot(ctx, backend.SnapRef{Image: ref, Snap: o.rec.ImageName}); err != nil {
			return err
		}
	}
	return s.trash(ctx, o.cluster, ref, st.ID)
}

// sweepAfterRetry has the purger sweep the trash of the pool an ID names,
// once per process: a delete whose record is already gone may be the retry
// of an attempt that died with its purge still queued in memory, after the
// trash move and the record's removal.
func (s *Server) sweepAfterRetry(ctx context.Context, id string, creds *credentials.Credentials) {
	vid, err := volid.Decode(id)
	if s.purger == nil || err != nil {
		return
	}
	c, err := s.connect(ctx, fromID, "id", vid.ClusterID, creds)
	if err != nil {
		return
	}
	defer c.sess.Release()
	if pool, err := c.sess.PoolName(ctx, vid.LocationID); err == nil {
		s.purger.sweepOnce(c.target, c.pool(pool))
	}
}

// isUnknownCluster reports whether err is a lookup failure of the cluster
// ID itself (as opposed to a missing pool or record).
func isUnknownCluster(err error) bool {
	return errors.Is(err, clusterconfig.ErrClusterNotFound)
}

// currentImage returns the image of a volume record, or nil when it is
// gone (removed, trashed, or never created).
func (s *Server) currentImage(ctx context.Context, o *object) (*backend.ImageRef, error) {
	name := o.rec.ImageName
	if o.rec.ImageID != "" {
		n, err := o.sess.ImageName(ctx, o.pool(o.imagePool), o.rec.ImageID)
		if errors.Is(err, backend.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		name = n
	}
	img := o.imageRef(name)
	return &img, nil
}

// retire removes a volume's image without blocking on its data: an image
// with snapshots becomes a tomb (its snapshots stay restorable); any other
// goes to the RBD trash, purged by the mgr in the background. An image
// with watchers is in use: FailedPrecondition naming them. id is the
// record's image ID ("" when unknown).
func (s *Server) retire(ctx context.Context, c *cluster, img backend.ImageRef, id string) error {
	st, err := s.statUnwatched(ctx, c, img)
	if errors.Is(err, backend.ErrNotFound) {
		return s.finishTrashMove(ctx, c, img, id)
	}
	if err != nil {
		return err
	}
	if len(st.Snapshots) > 0 {
		if isTomb(img.Name) {
			return nil
		}
		return s.entomb(ctx, c, img, st.ID)
	}
	return s.trash(ctx, c, img, st.ID)
}

// entomb renames the image of a deleted volume with snapshots to its tomb.
// A twin request in another process may be renaming it too: the rename
// then finds the name gone or the tomb's rbd_id taken. Done when the
// directory names the image by its tomb (the old name's ID object, which
// a rename cut off inside librbd leaves, is removed then). Otherwise a
// twin's rename is under way (librbd writes the new rbd_id before the
// directory), or a killed one left the tomb's rbd_id: Aborted until
// clearCutRename removes it, PartialBound after it was written.
func (s *Server) entomb(ctx context.Context, c *cluster, img backend.ImageRef, id string) error {
	tomb := img
	tomb.Name = tombName(id)
	err := c.sess.Rename(ctx, img, tomb.Name)
	if errors.Is(err, backend.ErrExists) {
		if cleared, cerr := s.clearCutRename(ctx, c, tomb, id); cerr != nil || cleared {
			if cerr != nil {
				return cerr
			}
			err = c.sess.Rename(ctx, img, tomb.Name)
		}
	}
	if !errors.Is(err, backend.ErrNotFound) && !errors.Is(err, backend.ErrExists) {
		return err
	}
	if name, nerr := c.sess.ImageName(ctx, img.PoolRef, id); nerr == nil && name == tomb.Name {
		return c.sess.RemoveIDObject(ctx, img, id)
	}
	return status.Errorf(codes.Aborted, "volume_id: image %s is being renamed by a concurrent request, retry: %v",
		img.Name, err)
}

// clearCutRename removes the tomb's ID object that a rename killed inside
// librbd left (it holds id, and the directory still names the image by its
// old name) once PartialBound has passed since it was written: no live
// rename is still between its two writes then. It reports whether it
// removed it; anything else under the tomb's name is left alone.
func (s *Server) clearCutRename(ctx context.Context, c *cluster, tomb backend.ImageRef, id string) (bool, error) {
	held, written, err := c.sess.IDObject(ctx, tomb)
	if errors.Is(err, backend.ErrNotFound) || (err == nil && (held != id || written.IsZero())) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if age := s.cfg.Now().Sub(written); age < s.cfg.PartialBound {
		return false, nil
	}
	if err := c.sess.RemoveIDObject(ctx, tomb, id); err != nil {
		return false, err
	}
	logging.FromContext(ctx).Warn("removed the ID object a rename killed inside librbd left",
		zap.String("image", tomb.Name), zap.String("image_id", id))
	return true, nil
}

// statUnwatched stats an image until it has no watchers, for up to
// Config.WatcherWait: the mgr briefly opens a parent image while it removes
// or flattens a clone, and that watch must not fail a delete. A watch that
// outlasts the wait (a mapped image) is a WatchersError.
func (s *Server) statUnwatched(ctx context.Context, c *cluster, img backend.ImageRef) (*backend.ImageStatus, error) {
	deadline := time.Now().Add(s.cfg.WatcherWait)
	pause := 50 * time.Millisecond
	for {
		st, err := c.sess.Stat(ctx, img)
		if err != nil || len(st.Watchers) == 0 {
			return st, err
		}
		if time.Now().Add(pause).After(deadline) {
			return nil, watchedError(img, st)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pause):
		}
		pause *= 2
	}
}

// finishTrashMove handles an image that is listed under its name but does
// not open: a move to the trash cut off inside librbd (the image in the
// trash, its directory entry left) is finished and the image purged;
// anything else is gone already.
func (s *Server) finishTrashMove(ctx context.Context, c *cluster, img backend.ImageRef, id string) error {
	if id == "" {
		return nil
	}
	err := c.sess.FinishTrashMove(ctx, img, id)
	if errors.Is(err, backend.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	s.purge(ctx, c, img.PoolRef, img.Name, id)
	return nil
}

// trash moves an image to the RBD trash and has it purged: by the
// background purger, or here without one.
func (s *Server) trash(ctx context.Context, c *cluster, img backend.ImageRef, id string) error {
	if err := c.sess.Trash(ctx, img); err != nil && !errors.Is(err, backend.ErrNotFound) {
		return err
	}
	s.purge(ctx, c, img.PoolRef, img.Name, id)
	return nil
}

// purge has the trashed image id removed: by the background purger, or
// here without one. An ID that is not in the trash is fine.
func (s *Server) purge(ctx context.Context, c *cluster, pool backend.PoolRef, name, id string) {
	if s.purger != nil {
		s.purger.submit(c.target, pool, id)
		return
	}
	res, err := c.sess.PurgeTrash(ctx, pool, id)
	if err != nil {
		// The image is in the trash: the volume is gone for the CO. Log
		// and carry on; `rbd trash purge` reclaims the space.
		logging.FromContext(ctx).Warn("cannot purge a trashed image", zap.String("image", name),
			zap.String("id", id), zap.Error(err))
		return
	}
	if res == backend.PurgeDeferred {
		logging.FromContext(ctx).Info("trashed image kept until its clones are gone",
			zap.String("image", name), zap.String("id", id))
	}
}

// watchedError is why an image still watched after the wait cannot go: in
// use by a workload (FailedPrecondition), unless every watcher is this
// driver's own connection, which is transient (Unavailable: an operation of
// its own, or a watch the OSD expires after an outage).
func watchedError(img backend.ImageRef, st *backend.ImageStatus) error {
	if st.OwnWatchers < len(st.Watchers) {
		return &backend.WatchersError{Image: img.Name, Addrs: st.Watchers}
	}
	return fmt.Errorf("%w: image %s is watched only by this driver's own connection (%s): an operation in "+
		"progress or a watch left by an OSD outage, which expires", backend.ErrUnavailable, img.Name,
		strings.Join(st.Watchers, ", "))
}
