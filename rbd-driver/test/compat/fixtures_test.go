package compat

import (
	"cmp"
	"fmt"

	"github.com/google/uuid"
)

// The layouts below are ceph-csi's (v3.x) as its source and docs describe
// them, written here with bare RADOS and librbd calls:
//
//   - volume journal: directory object csi.volumes.<instance> in the journal
//     pool, omap key csi.volume.<request name> = <uuid>, or
//     <16-hex image pool ID>/<uuid> when the journal pool is not the image
//     pool; UUID object csi.volume.<uuid> with csi.volname, csi.imagename
//     (csi-vol-<uuid>), csi.imageid (releases before v3.2 did not store it)
//     and, with a separate journal pool, csi.journalpool = the journal
//     pool's ID as 16 hex digits. With a separate journal pool ceph-csi
//     creates the UUID object empty in the image pool and writes its keys
//     to the object of the same name in the journal pool. ceph-csi ignores
//     a StorageClass journalPool for volumes (v3.2+); the split layout is
//     that of topology-constrained pools before v3.11 (directory in the
//     StorageClass pool, image in the topology pool); since v3.11 the
//     journal of such a volume is in the topology pool, plain.
//   - snapshot journal: csi.snaps.<instance> with csi.snap.<request name>;
//     UUID object csi.snap.<uuid> with csi.snapname, csi.imagename
//     (csi-snap-<uuid>), csi.source (the volume's image name) and
//     csi.imageid (the csi-snap image's ID).
//   - a volume cloned from a volume (csi-vol-<new>) has a hidden parent
//     csi-vol-<new>-temp: ceph-csi snapshots the source as
//     csi-vol-<new>-temp, clones that into the image csi-vol-<new>-temp,
//     removes the snapshot, snapshots the temp image as csi-vol-<new>,
//     clones that into csi-vol-<new> and removes that snapshot too (clone v2
//     keeps both in the trash namespace). Its record is a plain volume
//     record.
//   - a snapshot is the image csi-snap-<uuid>, cloned (clone v2, features
//     layering and deep-flatten) from a snapshot csi-snap-<uuid> of the
//     volume that is removed right after (it stays in the trash namespace
//     while the clone lives), carrying its own snapshot csi-snap-<uuid>.

// cephCSIVolume is a volume as ceph-csi left it.
type cephCSIVolume struct {
	id, uuid, image, imageID string
	size                     int64
	// pool is its image pool; journalPool the journal pool of its records
	// ("": the image pool).
	pool, journalPool string
}

// volumeLayout says how a fixture volume is written.
type volumeLayout struct {
	// pool is the image pool ("": the rig's pool).
	pool string
	// journalPool is the pool of the directory ("": the image pool).
	journalPool string
	// ours writes rbd-driver's own earlier layout with a journalPool: the
	// whole record in the image pool, with csi.journalpool (not split).
	ours bool
	// noImageID leaves csi.imageid out (releases before v3.2).
	noImageID bool
}

const fixtureSize = 64 << 20

// cephCSIVolume writes a ceph-csi volume for request name req.
func (r *rig) cephCSIVolume(req string, l volumeLayout) *cephCSIVolume {
	r.t.Helper()
	id := uuid.NewString()
	pool := cmp.Or(l.pool, r.pool)
	v := &cephCSIVolume{uuid: id, image: "csi-vol-" + id, size: fixtureSize, pool: pool, journalPool: l.journalPool}
	var err error
	v.imageID, err = r.admin.CreateImage(pool, "", v.image, fixtureSize, "layering")
	must(r.t, err)
	attrs := map[string]string{"csi.volname": req, "csi.imagename": v.image}
	if !l.noImageID {
		attrs["csi.imageid"] = v.imageID
	}
	r.journalRecordIn(pool, "csi.volumes."+instance, "csi.volume.", req, id, l.journalPool, attrs, !l.ours)
	v.id = csiID(r.cl.FSID, r.poolID(pool), id)
	return v
}

// journalRecord writes a directory entry and its UUID object, split over
// the journal pool as ceph-csi does when journalPool is set.
func (r *rig) journalRecord(dir, prefix, req, id, journalPool string, attrs map[string]string) {
	r.t.Helper()
	r.journalRecordIn(r.pool, dir, prefix, req, id, journalPool, attrs, true)
}

// journalRecordIn writes a record of an image in pool; with a journal
// pool, split (ceph-csi) or whole in the image pool (rbd-driver's earlier
// layout).
func (r *rig) journalRecordIn(pool, dir, prefix, req, id, journalPool string, attrs map[string]string, split bool) {
	r.t.Helper()
	if journalPool == "" || journalPool == pool {
		must(r.t, r.admin.SetOmap(pool, "", prefix+id, attrs))
		must(r.t, r.admin.SetOmap(pool, "", dir, map[string]string{prefix + req: id}))
		return
	}
	attrs["csi.journalpool"] = fmt.Sprintf("%016x", r.poolID(journalPool))
	if split {
		must(r.t, r.admin.CreateObject(pool, "", prefix+id))
		must(r.t, r.admin.SetOmap(journalPool, "", prefix+id, attrs))
	} else {
		must(r.t, r.admin.SetOmap(pool, "", prefix+id, attrs))
	}
	dirValue := fmt.Sprintf("%016x/%s", r.poolID(pool), id)
	must(r.t, r.admin.SetOmap(journalPool, "", dir, map[string]string{prefix + req: dirValue}))
}

// cephCSISnapshot is a snapshot as ceph-csi left it.
type cephCSISnapshot struct {
	id, uuid, image, imageID string
}

// cephCSISnapshot takes a snapshot of v the way ceph-csi does, for
// request name req.
func (r *rig) cephCSISnapshot(req string, v *cephCSIVolume) *cephCSISnapshot {
	r.t.Helper()
	id := uuid.NewString()
	s := &cephCSISnapshot{uuid: id, image: "csi-snap-" + id}
	must(r.t, r.admin.CreateSnapshot(r.pool, "", v.image, s.image))
	var err error
	s.imageID, err = r.admin.Clone(r.pool, "", v.image, s.image, s.image, "layering", "deep-flatten")
	must(r.t, err)
	must(r.t, r.admin.RemoveSnapshot(r.pool, "", v.image, s.image))
	must(r.t, r.admin.CreateSnapshot(r.pool, "", s.image, s.image))
	r.journalRecord("csi.snaps."+instance, "csi.snap.", req, id, v.journalPool, map[string]string{
		"csi.snapname": req, "csi.imagename": s.image, "csi.source": v.image, "csi.imageid": s.imageID,
	})
	s.id = csiID(r.cl.FSID, r.poolID(r.pool), id)
	return s
}

// cephCSIClone clones v the way ceph-csi does, for request name req.
func (r *rig) cephCSIClone(req string, v *cephCSIVolume) *cephCSIVolume {
	r.t.Helper()
	id := uuid.NewString()
	c := &cephCSIVolume{uuid: id, image: "csi-vol-" + id, size: v.size}
	temp := c.image + "-temp"
	r.cloneStep(v.image, temp, temp)
	r.cloneStep(temp, c.image, c.image)
	var err error
	c.imageID, err = r.admin.ImageID(r.pool, "", c.image)
	must(r.t, err)
	r.journalRecord("csi.volumes."+instance, "csi.volume.", req, id, "", map[string]string{
		"csi.volname": req, "csi.imagename": c.image, "csi.imageid": c.imageID})
	c.id = csiID(r.cl.FSID, r.poolID(r.pool), id)
	return c
}

// cephCSIRestore restores s the way ceph-csi does, for request name req: a
// clone of csi-snap-<uuid>@csi-snap-<uuid>, recorded without a source.
func (r *rig) cephCSIRestore(req string, s *cephCSISnapshot, size int64) *cephCSIVolume {
	r.t.Helper()
	id := uuid.NewString()
	v := &cephCSIVolume{uuid: id, image: "csi-vol-" + id, size: size}
	var err error
	v.imageID, err = r.admin.Clone(r.pool, "", s.image, s.image, v.image, "layering")
	must(r.t, err)
	r.journalRecord("csi.volumes."+instance, "csi.volume.", req, id, "", map[string]string{
		"csi.volname": req, "csi.imagename": v.image, "csi.imageid": v.imageID})
	v.id = csiID(r.cl.FSID, r.poolID(r.pool), id)
	return v
}

// cloneStep is ceph-csi's createRBDClone: snapshot parent as snap, clone
// it into child (layering, deep-flatten), remove the snapshot.
func (r *rig) cloneStep(parent, snap, child string) {
	r.t.Helper()
	must(r.t, r.admin.CreateSnapshot(r.pool, "", parent, snap))
	_, err := r.admin.Clone(r.pool, "", parent, snap, child, "layering", "deep-flatten")
	must(r.t, err)
	must(r.t, r.admin.RemoveSnapshot(r.pool, "", parent, snap))
}
