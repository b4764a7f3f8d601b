package audit_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/google/uuid"

	rbdaudit "github.com/seed-6a310834/ceph-csi/rbd-driver/internal/audit"
	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/cephrbd"
	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/cephrbd/cephrbdtest"
	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/controller"
	"github.com/seed-6a310834/ceph-csi/shared/audit"
	"github.com/seed-6a310834/ceph-csi/shared/audit/audittest"
	"github.com/seed-6a310834/ceph-csi/shared/cephconn"
	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/csisource"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/testcluster"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

const (
	pool     = "csi-rbd-audit"
	instance = "audit-it"
	mib      = int64(1) << 20
)

// rig is the test's pool, a controller on it, a session for making orphans
// behind the driver's back, and a secrets directory for the command.
type rig struct {
	t       *testing.T
	cl      *testcluster.Cluster
	admin   *cephrbdtest.Admin
	ctrl    *controller.Server
	sess    backend.Inventory
	store   *cephconn.ObjectStore
	secrets map[string]string
	cmd     audittest.Command
	audittest.Controller
}

func newRig(t *testing.T) *rig {
	cl := testcluster.Get(t)
	r := &rig{t: t, cl: cl, admin: cephrbdtest.Conn(t, cl),
		secrets: map[string]string{credentials.UserIDField: cl.AdminID, credentials.UserKeyField: cl.AdminKey}}
	r.admin.CreatePool(t, pool)
	conns := cephconn.NewPool(cephconn.Options{})
	t.Cleanup(func() {
		c, err := r.admin.WaitEmpty(pool, "", drainWait(t))
		if err != nil || !c.Empty() {
			t.Errorf("pool %s is not back to its initial state: %v (%v)", pool, c, err)
		}
		if err := r.admin.DeletePool(pool); err != nil {
			t.Errorf("delete pool %s: %v", pool, err)
		}
	})
	t.Cleanup(conns.Close)
	ctrl, err := controller.New(controller.Config{Backend: cephrbd.New(conns, cephrbd.Options{}),
		Clusters: clusterconfig.NewStore(cl.CSIConfig), InstanceID: instance, PurgeWorkers: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ctrl.Close)
	r.ctrl = ctrl
	r.Controller = audittest.Controller{T: t, Server: ctrl, Secrets: r.secrets, Ctx: func() context.Context { return ctx(t) }}
	sess, err := cephrbd.New(conns, cephrbd.Options{}).Connect(ctx(t),
		backend.Target{ClusterID: cl.FSID, Monitors: cl.Monitors, Creds: &credentials.Credentials{ID: cl.AdminID, Key: cl.AdminKey}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sess.Release)
	r.sess = sess.(backend.Inventory)
	st, err := sess.ObjectStore(ctx(t), backend.PoolRef{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	r.store = st.(*cephconn.ObjectStore)
	r.cmd = audittest.Command{T: t, Name: "rbd-driver audit", Main: rbdaudit.Main, Key: cl.AdminKey,
		Ctx: func() context.Context { return ctx(t) },
		Args: []string{"--cluster-config", cl.CSIConfig, "--cluster-id", cl.FSID,
			"--secrets-dir", audittest.WriteSecrets(t, r.secrets), "--pool", pool, "--instance-id", instance}}
	return r
}

// drainWait is how long the cleanup waits for the mgr to purge the trash:
// no wait after a failure, whose leftovers are expected and reported.
func drainWait(t *testing.T) time.Duration {
	if t.Failed() {
		return 0
	}
	return time.Minute
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

func (r *rig) createVolume(name string, src *csi.VolumeContentSource, extra ...string) *csi.Volume {
	r.t.Helper()
	params := map[string]string{"clusterID": r.cl.FSID, "pool": pool}
	for i := 0; i+1 < len(extra); i += 2 {
		params[extra[i]] = extra[i+1]
	}
	resp, err := r.ctrl.CreateVolume(ctx(r.t), &csi.CreateVolumeRequest{
		Name: name, CapacityRange: &csi.CapacityRange{RequiredBytes: 8 * mib}, VolumeContentSource: src,
		VolumeCapabilities: []*csi.VolumeCapability{{
			AccessType: &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}},
			AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
		}},
		Parameters: params,
		Secrets:    r.secrets,
	})
	if err != nil {
		r.t.Fatalf("CreateVolume(%s): %v", name, err)
	}
	return resp.GetVolume()
}

func (r *rig) journal(kind journal.Kind) *journal.Journal {
	return journal.New(r.store, journal.Options{Kind: kind, Instance: instance})
}

func (r *rig) reserve(kind journal.Kind, name string, attrs map[string]string) *journal.Record {
	r.t.Helper()
	rec, err := r.journal(kind).Reserve(ctx(r.t), journal.Reservation{RequestName: name, ImagePoolID: journal.SamePool, Attributes: attrs})
	if err != nil {
		r.t.Fatal(err)
	}
	return rec
}

func (r *rig) ref(name string) backend.ImageRef {
	return backend.ImageRef{PoolRef: backend.PoolRef{Pool: pool}, Name: name}
}

func (r *rig) createImage(name string) string {
	r.t.Helper()
	id, err := r.sess.CreateImage(ctx(r.t), r.ref(name), backend.ImageOptions{Size: uint64(4 * mib), Features: []string{"layering"}})
	if err != nil {
		r.t.Fatalf("create image %s: %v", name, err)
	}
	return id
}

func (r *rig) createSnap(image, snap string) {
	r.t.Helper()
	if _, err := r.sess.CreateSnapshot(ctx(r.t), backend.SnapRef{Image: r.ref(image), Snap: snap}); err != nil {
		r.t.Fatalf("snapshot %s@%s: %v", image, snap, err)
	}
}

func (r *rig) imageID(name string) string {
	r.t.Helper()
	id, err := r.sess.ImageID(ctx(r.t), r.ref(name))
	if err != nil {
		r.t.Fatal(err)
	}
	return id
}

// scan returns the findings as "kind name" lines, sorted.
func (r *rig) scan() []string { return r.scanWith("") }

// scanWith scans with the journal directories in journalPool.
func (r *rig) scanWith(journalPool string) []string {
	r.t.Helper()
	findings, err := rbdaudit.Scan(ctx(r.t), rbdaudit.Config{Session: r.sess, Pool: pool, JournalPool: journalPool, Instance: instance,
		VolumePrefixes: audit.NewPrefixes(audit.VolumePrefix), SnapshotPrefixes: audit.NewPrefixes(audit.SnapshotPrefix)})
	if err != nil {
		r.t.Fatalf("scan: %v", err)
	}
	return audittest.Lines(findings)
}

// TestAuditFindsAndDeletesEachOrphanKind makes every kind of orphan on
// purpose next to healthy volumes, snapshots and a tomb made by the
// controller, and checks that the audit reports exactly the orphans, that
// --delete with the default grace deletes nothing, that --delete
// --grace=0s deletes exactly the eligible orphans (not an image in use,
// nor anything without our prefix), and that the healthy objects still
// work afterwards.
func TestAuditFindsAndDeletesEachOrphanKind(t *testing.T) {
	r := newRig(t)
	p := pool + "/"
	h := r.makeHealthy()
	orphans := r.makeRecordOrphans(h.imageA)
	u := r.makeUnrecorded(h.imageA)
	orphans = append(orphans, u.orphans...)
	halfForeign := r.makeHalfMade(&orphans)
	audittest.Scenario{Command: r.cmd, Scan: r.scan, Orphans: orphans,
		Busy: "unrecorded " + p + u.busyImage, Kept: "kept: in use: watchers", Freed: "once the image is free",
		Release: u.releaseBusy}.Check(t)
	r.checkHealthyAndCleanUp(h, u.foreignImage)
	r.checkHalfMadeForeignKept(halfForeign)
}

// healthy are the objects made through the controller that the audit must
// leave alone.
type healthy struct {
	volA, volB   *csi.Volume
	snapB, snapC *csi.Snapshot
	tombC        string // the tomb of volume C, holding snapC
	imageA       string // volume A's image
}

// makeHealthy makes a volume, a volume with a snapshot, and a tomb holding
// a snapshot of a deleted volume.
func (r *rig) makeHealthy() healthy {
	r.t.Helper()
	var h healthy
	h.volA = r.createVolume("pvc-a", nil)
	h.volB = r.createVolume("pvc-b", nil)
	h.snapB = r.Snapshot("snap-b", h.volB.GetVolumeId())
	volC := r.createVolume("pvc-c", nil)
	h.snapC = r.Snapshot("snap-c", volC.GetVolumeId())
	h.tombC = "csi-tomb-" + r.imageID(volC.GetVolumeContext()["imageName"])
	r.DeleteVolume(volC.GetVolumeId())
	h.imageA = h.volA.GetVolumeContext()["imageName"]
	return h
}

// makeRecordOrphans makes the orphans of the journal (kinds 1 to 4) and
// returns the findings the audit must report for them; imageA is a healthy
// volume's image.
func (r *rig) makeRecordOrphans(imageA string) []string {
	r.t.Helper()
	t := r.t
	p := pool + "/"
	dirVols, dirSnaps := p+"csi.volumes."+instance, p+"csi.snaps."+instance

	// 1. A directory entry whose UUID object is gone.
	dangling := r.reserve(journal.Volumes, "pvc-dangling", nil)
	if err := r.store.Remove(ctx(t), r.journal(journal.Volumes).UUIDObject(dangling.UUID)); err != nil {
		t.Fatal(err)
	}
	// 2. A UUID object without its directory entry.
	unlisted := r.reserve(journal.Volumes, "pvc-unlisted", nil)
	if err := r.store.RemoveOmapKeys(ctx(t), "csi.volumes."+instance, []string{"csi.volume.pvc-unlisted"}); err != nil {
		t.Fatal(err)
	}
	// 3. Records without their object: a reservation that never got its
	// image, a snapshot record whose RBD snapshot was never taken.
	r.reserve(journal.Volumes, "pvc-noimage", nil)
	r.reserve(journal.Snapshots, "snap-missing", map[string]string{"csi.rbd.parentimageid": r.imageID(imageA)})
	// 4. A half-finished creation: the image exists, the record has no ID.
	incomplete := r.reserve(journal.Volumes, "pvc-incomplete", nil)
	r.createImage(incomplete.ImageName)

	return []string{
		"dangling-entry " + dirVols + "[pvc-dangling]",
		"unreferenced-record " + p + "csi.volume." + unlisted.UUID,
		"missing-object " + dirVols + "[pvc-noimage]",
		"missing-object " + dirSnaps + "[snap-missing]",
		"incomplete " + dirVols + "[pvc-incomplete]",
	}
}

// unrecorded is what makeUnrecorded made.
type unrecorded struct {
	orphans      []string // the findings the audit must report
	busyImage    string   // an orphan image in use
	releaseBusy  func()   // stops using busyImage
	foreignImage string   // an image without our prefix
}

// makeUnrecorded makes the unrecorded orphans (kind 5), one of them in use,
// and images and a snapshot that are not ours; imageA is a healthy volume's
// image.
func (r *rig) makeUnrecorded(imageA string) unrecorded {
	r.t.Helper()
	t := r.t
	p := pool + "/"

	// 5. Unrecorded: an image, a snapshot on a healthy volume, a tomb with
	// an orphan snapshot, and an image in use (kept even at grace 0).
	lostImage := "csi-vol-" + uuid.NewString()
	r.createImage(lostImage)
	lostSnap := "csi-snap-" + uuid.NewString()
	r.createSnap(imageA, lostSnap)
	tmp := "audit-tmp-" + uuid.NewString()
	lostTomb := "csi-tomb-" + r.createImage(tmp)
	lostTombSnap := "csi-snap-" + uuid.NewString()
	r.createSnap(tmp, lostTombSnap)
	if err := r.sess.Rename(ctx(t), r.ref(tmp), lostTomb); err != nil {
		t.Fatal(err)
	}
	busyImage := "csi-vol-" + uuid.NewString()
	r.createImage(busyImage)
	releaseBusy := r.admin.HoldImage(t, pool, "", busyImage)
	// Not ours: never reported, never touched.
	foreignImage := "keep-" + uuid.NewString()
	r.createImage(foreignImage)
	r.createImage("csi-vol-not-a-uuid")
	r.createImage("csi-tomb-not-its-id")
	r.createSnap(imageA, "manual-backup")

	return unrecorded{
		orphans: []string{
			"unrecorded " + p + lostImage,
			"unrecorded " + p + imageA + "@" + lostSnap,
			"unrecorded " + p + lostTomb,
			"unrecorded " + p + lostTomb + "@" + lostTombSnap,
			"unrecorded " + p + busyImage,
		},
		busyImage: busyImage, releaseBusy: releaseBusy, foreignImage: foreignImage,
	}
}

// checkHealthyAndCleanUp checks that what is not ours is untouched and that
// the healthy objects still work, then cleans up through the driver (and by
// hand for what is not ours).
func (r *rig) checkHealthyAndCleanUp(h healthy, foreignImage string) {
	r.t.Helper()
	t := r.t

	// What is not ours is untouched; the healthy objects still work.
	if img, err := r.admin.Describe(pool, "", h.imageA); err != nil || !slices.Equal(img.Snapshots, []string{"manual-backup"}) {
		t.Fatalf("volume A: %+v, %v; want only its manual snapshot left", img, err)
	}
	for _, name := range []string{foreignImage, "csi-vol-not-a-uuid", "csi-tomb-not-its-id"} {
		if _, err := r.admin.Describe(pool, "", name); err != nil {
			t.Fatalf("image %s not ours, but gone: %v", name, err)
		}
	}
	restored := r.createVolume("pvc-restored", csisource.Snapshot(h.snapC.GetSnapshotId()))
	snapB2 := r.Snapshot("snap-b2", h.volB.GetVolumeId())

	// Clean up through the driver (and by hand for what is not ours).
	r.DeleteVolume(restored.GetVolumeId())
	r.DeleteSnapshot(snapB2.GetSnapshotId())
	r.DeleteSnapshot(h.snapB.GetSnapshotId())
	r.DeleteVolume(h.volB.GetVolumeId())
	r.waitTrashEmpty()
	r.DeleteSnapshot(h.snapC.GetSnapshotId())
	if err := r.sess.RemoveSnapshot(ctx(t), backend.SnapRef{Image: r.ref(h.imageA), Snap: "manual-backup"}); err != nil {
		t.Fatal(err)
	}
	r.DeleteVolume(h.volA.GetVolumeId())
	for _, name := range []string{foreignImage, "csi-vol-not-a-uuid", "csi-tomb-not-its-id"} {
		r.discard(name)
	}
	if _, err := r.admin.Describe(pool, "", h.tombC); err == nil {
		t.Errorf("tomb %s still exists after its last snapshot was deleted", h.tombC)
	}
}

// waitTrashEmpty waits until the mgr purged the restored clone, so that
// deleting the tomb's snapshot does not wait for the mgr's retry backoff.
func (r *rig) waitTrashEmpty() {
	r.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		c, err := r.admin.Audit(pool, "")
		if err == nil && len(c.Trash) == 0 {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("trash not purged: %v %v", c, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (r *rig) discard(name string) {
	r.t.Helper()
	id := r.imageID(name)
	if err := r.sess.Trash(ctx(r.t), r.ref(name)); err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.sess.PurgeTrash(ctx(r.t), backend.PoolRef{Pool: pool}, id); err != nil {
		r.t.Fatal(err)
	}
}

// TestAuditWithJournalPool: with the directories in a separate journal
// pool, the audit of the image pool with --journal-pool finds the orphans
// of both; the audit of the image pool alone leaves the records of that
// journal pool alone (they are not unreferenced: their directory is
// elsewhere). Healthy volumes of every layout are never reported: a
// volume made with journalPool (journaled in the image pool, as ceph-csi
// does), one of this driver's earlier journalPool layout (directory in the
// journal pool, record in the image pool with csi.journalpool) and one of
// ceph-csi's split layout (directory and keys in the journal pool, an
// empty UUID object in the image pool: topology pools before v3.11).
func TestAuditWithJournalPool(t *testing.T) {
	r := newRig(t)
	const jpool = pool + "-jrn"
	r.admin.CreatePool(t, jpool)
	t.Cleanup(func() {
		if c, err := r.admin.WaitEmpty(jpool, "", drainWait(t)); err != nil || !c.Empty() {
			t.Errorf("pool %s is not back to its initial state: %v (%v)", jpool, c, err)
		}
		if err := r.admin.DeletePool(jpool); err != nil {
			t.Errorf("delete pool %s: %v", jpool, err)
		}
	})
	vol := r.createVolume("pvc-jp", nil, "journalPool", jpool)
	snap := r.Snapshot("snap-jp", vol.GetVolumeId())
	old, split := r.createVolume("pvc-old", nil), r.createVolume("pvc-split", nil)
	r.relayout(old, jpool, false)
	r.relayout(split, jpool, true)

	dir, err := r.sess.ObjectStore(ctx(t), backend.PoolRef{Pool: jpool})
	if err != nil {
		t.Fatal(err)
	}
	poolID, err := r.sess.PoolID(ctx(t), pool)
	if err != nil {
		t.Fatal(err)
	}
	j := journal.New(dir, journal.Options{Kind: journal.Volumes, Instance: instance, UUIDStore: r.store})
	if _, err := j.Reserve(ctx(t), journal.Reservation{RequestName: "pvc-half", ImagePoolID: poolID,
		Attributes: map[string]string{"csi.journalpool": jpool}}); err != nil {
		t.Fatal(err)
	}
	lost := "csi-vol-" + uuid.NewString()
	r.createImage(lost)

	audittest.Equal(t, "findings with --journal-pool", r.scanWith(jpool), []string{
		"missing-object " + jpool + "/csi.volumes." + instance + "[pvc-half]",
		"unrecorded " + pool + "/" + lost,
	})
	audittest.Equal(t, "findings of the image pool alone", r.scan(), []string{"unrecorded " + pool + "/" + lost})
	if code, _ := r.cmd.Run("--journal-pool", jpool, "--delete", "--grace=0s"); code != audit.ExitClean {
		t.Fatalf("--delete --grace=0s: exit %d, want %d", code, audit.ExitClean)
	}
	audittest.Equal(t, "findings at the end", r.scanWith(jpool), nil)
	audittest.Equal(t, "findings of the image pool at the end", r.scan(), nil)
	r.DeleteSnapshot(snap.GetSnapshotId())
	for _, v := range []*csi.Volume{vol, old, split} {
		r.DeleteVolume(v.GetVolumeId())
	}
}

// relayout moves a volume's plain journal record to jpool: this driver's
// earlier journalPool layout, or ceph-csi's split one.
func (r *rig) relayout(vol *csi.Volume, jpool string, split bool) {
	r.t.Helper()
	c := ctx(r.t)
	jstore, err := r.sess.ObjectStore(c, backend.PoolRef{Pool: jpool})
	must(r.t, err)
	poolID, err := r.sess.PoolID(c, pool)
	must(r.t, err)
	jpoolID, err := r.sess.PoolID(c, jpool)
	must(r.t, err)
	vid, err := volid.Decode(vol.GetVolumeId())
	must(r.t, err)
	obj, dir := "csi.volume."+vid.UUID, "csi.volumes."+instance
	attrs, err := r.store.ListOmap(c, obj, "")
	must(r.t, err)
	key := "csi.volume." + attrs["csi.volname"]
	must(r.t, r.store.RemoveOmapKeys(c, dir, []string{key}))
	must(r.t, jstore.SetOmap(c, dir, map[string]string{key: fmt.Sprintf("%016x/%s", poolID, vid.UUID)}))
	attrs["csi.journalpool"] = fmt.Sprintf("%016x", jpoolID)
	if !split {
		must(r.t, r.store.UpdateOmap(c, obj, attrs))
		return
	}
	must(r.t, jstore.CreateWithOmap(c, obj, attrs))
	must(r.t, r.store.Remove(c, obj))
	must(r.t, r.store.CreateWithOmap(c, obj, map[string]string{}))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// makeHalfMade leaves what creates cut off inside librbd leave (a directory
// entry, with and without the ID object, never the header), two under our
// prefix (added to orphans) and one not ours, whose name it returns.
func (r *rig) makeHalfMade(orphans *[]string) string {
	r.t.Helper()
	halfA, halfB, foreign := "csi-vol-"+uuid.NewString(), "csi-vol-"+uuid.NewString(), "keep-"+uuid.NewString()
	for _, h := range []struct {
		name, id string
		idObject bool
	}{{halfA, "feed01", true}, {halfB, "feed02", false}, {foreign, "feed03", true}} {
		if err := r.admin.LeaveHalfMade(pool, "", h.name, h.id, h.idObject); err != nil {
			r.t.Fatal(err)
		}
	}
	*orphans = append(*orphans, "half-made "+pool+"/"+halfA, "half-made "+pool+"/"+halfB)
	return foreign
}

// checkHalfMadeForeignKept checks that the half-made image not ours is
// still there, then removes it.
func (r *rig) checkHalfMadeForeignKept(name string) {
	r.t.Helper()
	if hp, err := r.sess.Partial(ctx(r.t), r.ref(name)); err != nil || hp.Empty() {
		r.t.Errorf("half-made image %s not ours, but gone: %+v, %v", name, hp, err)
	}
	if err := r.sess.RemovePartial(ctx(r.t), r.ref(name), backend.PartialImage{DirID: "feed03", ObjectID: "feed03"}); err != nil {
		r.t.Fatal(err)
	}
}
