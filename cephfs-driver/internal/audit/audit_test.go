package audit_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/google/uuid"

	fsaudit "github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/audit"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/cephfs"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/cephfs/cephfstest"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/controller"
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
	fsName   = "cephfs"
	instance = "audit-it"
	mib      = int64(1) << 20
)

// rig is a controller on a subvolume group and RADOS namespace of the
// test's own (other tests share the cluster's csi namespace), an admin view
// for making orphans behind the driver's back, and a secrets directory for
// the command.
type rig struct {
	t         *testing.T
	cl        *testcluster.Cluster
	group, ns string
	config    string
	ctrl      *controller.Server
	admin     backend.Backend
	conn      *cephconn.Conn
	store     *cephconn.ObjectStore
	meta      string
	secrets   map[string]string
	cmd       audittest.Command
	audittest.Controller
}

func newRig(t *testing.T) *rig {
	cl := testcluster.Get(t)
	suffix := randomHex(t)
	r := &rig{t: t, cl: cl, group: "csi-audit-" + suffix, ns: "csi-audit-" + suffix,
		secrets: map[string]string{credentials.AdminIDField: cl.AdminID, credentials.AdminKeyField: cl.AdminKey}}
	r.writeConfig()
	r.cmd = audittest.Command{T: t, Name: "cephfs-driver audit", Main: fsaudit.Main, Key: cl.AdminKey,
		Ctx: func() context.Context { return ctx(t) },
		Args: []string{"--cluster-config", r.config, "--secrets-dir", audittest.WriteSecrets(t, r.secrets), "--fs-name", fsName,
			"--instance-id", instance}}
	conns := cephconn.NewPool(cephconn.Options{CommandTimeout: -1})
	t.Cleanup(conns.Close)
	conn, err := conns.Get(ctx(t), cephconn.Target{ClusterID: cl.FSID, Monitors: cl.Monitors,
		Creds: &credentials.Credentials{ID: cl.AdminID, Key: cl.AdminKey}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Release)
	r.admin = cephfs.New(conn.Conn)
	r.conn = conn
	fss, err := r.admin.FileSystems(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(fss, func(f backend.FileSystem) bool { return f.Name == fsName })
	if i < 0 {
		t.Fatalf("no file system %s", fsName)
	}
	r.meta = fss[i].MetadataPool
	if r.store, err = cephconn.NewObjectStore(conn.Conn, r.meta, r.ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.store.Destroy)
	t.Cleanup(r.audit)
	r.ctrl, err = controller.New(controller.Config{Connector: cephfs.NewConnector(conns),
		Clusters: clusterconfig.NewStore(r.config), InstanceID: instance,
		ClonePoll: 100 * time.Millisecond, MaxClonePoll: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r.Controller = audittest.Controller{T: t, Server: r.ctrl, Secrets: r.secrets, Ctx: func() context.Context { return ctx(t) }}
	return r
}

func randomHex(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func (r *rig) writeConfig() {
	data, err := json.Marshal([]clusterconfig.Cluster{{ClusterID: r.cl.FSID, Monitors: r.cl.Monitors,
		CephFS: clusterconfig.CephFSConfig{SubvolumeGroup: r.group, RadosNamespace: r.ns}}})
	if err != nil {
		r.t.Fatal(err)
	}
	r.config = filepath.Join(r.t.TempDir(), "config.json")
	if err := os.WriteFile(r.config, data, 0o600); err != nil {
		r.t.Fatal(err)
	}
}

// audit runs at the end: the group must be empty (retained subvolumes go
// once Ceph purged them), the namespace must hold nothing but the two empty
// journal directories, which it removes with the group.
func (r *rig) audit() {
	t := r.t
	c := context.Background()
	var subs []string
	wait := time.Minute // retained subvolumes go once Ceph purged them
	if t.Failed() {
		wait = 0 // leftovers are expected; report them
	}
	for deadline := time.Now().Add(wait); ; time.Sleep(500 * time.Millisecond) {
		var err error
		subs, err = r.admin.ListSubvolumes(c, fsName, r.group)
		if errors.Is(err, backend.ErrNotFound) || (err == nil && len(subs) == 0) || time.Now().After(deadline) {
			break
		}
	}
	if len(subs) > 0 {
		t.Errorf("subvolume group %s is not empty: %v", r.group, subs)
	}
	objects, err := r.store.ListObjects(c, "")
	if err != nil {
		t.Errorf("list %s/%s: %v", r.meta, r.ns, err)
	}
	for _, o := range objects {
		keys, err := r.store.ListOmap(c, o, "")
		if !strings.HasPrefix(o, "csi.volumes.") && !strings.HasPrefix(o, "csi.snaps.") || err != nil || len(keys) > 0 {
			t.Errorf("left in %s/%s: %s %v %v", r.meta, r.ns, o, keys, err)
		}
	}
	if t.Failed() {
		t.Logf("keeping group %s and namespace %s for inspection", r.group, r.ns)
		return
	}
	for _, o := range objects {
		if err := r.store.Remove(c, o); err != nil {
			t.Errorf("remove %s: %v", o, err)
		}
	}
	if err := r.admin.RemoveGroup(c, fsName, r.group); err != nil {
		t.Errorf("remove group %s: %v", r.group, err)
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

func capability(mode csi.VolumeCapability_AccessMode_Mode) []*csi.VolumeCapability {
	return []*csi.VolumeCapability{{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: mode},
	}}
}

func (r *rig) createVolume(name string, src *csi.VolumeContentSource, shallow bool) *csi.Volume {
	r.t.Helper()
	params := map[string]string{"clusterID": r.cl.FSID, "fsName": fsName}
	caps := capability(csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER)
	if shallow {
		params["backingSnapshot"] = "true"
		caps = capability(csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY)
	}
	resp, err := r.ctrl.CreateVolume(ctx(r.t), &csi.CreateVolumeRequest{Name: name, VolumeContentSource: src,
		CapacityRange: &csi.CapacityRange{RequiredBytes: 8 * mib}, VolumeCapabilities: caps,
		Parameters: params, Secrets: r.secrets})
	if err != nil {
		r.t.Fatalf("CreateVolume(%s): %v", name, err)
	}
	return resp.GetVolume()
}

func (r *rig) journal(kind journal.Kind) *journal.Journal {
	return journal.New(r.store, journal.Options{Kind: kind, Instance: instance})
}

func (r *rig) reserve(kind journal.Kind, name, source string) *journal.Record {
	r.t.Helper()
	res := journal.Reservation{RequestName: name, ImagePoolID: journal.SamePool, Source: source}
	if kind == journal.Snapshots { // as the driver reserves them
		res.Attributes = map[string]string{"csi.cephfs.sourcevolumeid": "0001-0004-test-0000000000000001-" + uuid.NewString()}
	}
	rec, err := r.journal(kind).Reserve(ctx(r.t), res)
	if err != nil {
		r.t.Fatal(err)
	}
	return rec
}

func (r *rig) sub(name string) backend.SubvolumeRef {
	return backend.SubvolumeRef{FS: fsName, Group: r.group, Name: name}
}

func (r *rig) snap(sub, snap string) backend.SnapshotRef {
	return backend.SnapshotRef{SubvolumeRef: r.sub(sub), Snapshot: snap}
}

func (r *rig) must(err error) {
	r.t.Helper()
	if err != nil {
		r.t.Fatal(err)
	}
}

// retained makes a subvolume removed with its snapshot retained.
func (r *rig) retained(name, snap string) {
	r.t.Helper()
	c := ctx(r.t)
	r.must(r.admin.CreateSubvolume(c, r.sub(name), backend.CreateOptions{}))
	r.must(r.admin.CreateSnapshot(c, r.snap(name, snap)))
	r.must(r.admin.RemoveSubvolume(c, r.sub(name), false))
}

func (r *rig) scanFindings() ([]*audit.Finding, error) {
	return fsaudit.Scan(ctx(r.t), fsaudit.Config{Backend: r.admin, Store: r.store, StoreWhere: r.where(),
		FS: fsName, Group: r.group, Instance: instance,
		VolumePrefixes: audit.NewPrefixes(audit.VolumePrefix), SnapshotPrefixes: audit.NewPrefixes(audit.SnapshotPrefix)})
}

func (r *rig) scan() []string {
	r.t.Helper()
	findings, err := r.scanFindings()
	if err != nil {
		r.t.Fatalf("scan: %v", err)
	}
	return audittest.Lines(findings)
}

func (r *rig) where() string { return r.meta + "/" + r.ns }

// TestAuditFindsAndDeletesEachOrphanKind makes every kind of orphan on
// purpose next to healthy volumes, snapshots, a shallow volume and a
// retained subvolume made by the controller, and checks that the audit
// reports exactly the orphans, that --delete with the default grace
// deletes nothing, that --delete --grace=0s deletes exactly the eligible
// orphans (not a subvolume holding a foreign snapshot, nor anything without
// our prefix), and that the healthy objects still work afterwards.
func TestAuditFindsAndDeletesEachOrphanKind(t *testing.T) {
	r := newRig(t)
	sv := func(name string) string { return r.sub(name).String() }
	h := r.makeHealthy()
	orphans := r.makeRecordOrphans(h.subA)
	u := r.makeUnrecorded(h.subA)
	orphans = append(orphans, u.orphans...)
	orphans = append(orphans, r.makeHalfMade())
	audittest.Scenario{Command: r.cmd, Scan: r.scan, Orphans: orphans,
		Busy: "unrecorded " + sv(u.busySub), Kept: "kept: in use: snapshots not made by the driver: manual",
		Freed:   "once the foreign snapshot is gone",
		Release: func() { r.must(r.admin.RemoveSnapshot(ctx(t), r.snap(u.busySub, "manual"))) }}.Check(t)
	r.checkHealthyAndCleanUp(h, u.foreignSub)
}

// healthy are the objects made through the controller that the audit must
// leave alone.
type healthy struct {
	volA, volB, shallow *csi.Volume
	snapB, snapC        *csi.Snapshot
	subA                string // volume A's subvolume
	// cephCSISnap is a snapshot of volume A recorded as ceph-csi records
	// it (csi.snapname, csi.imagename, csi.source only), cephCSIID its ID.
	cephCSISnap, cephCSIID string
}

// makeHealthy makes a volume, a volume with a snapshot and a shallow
// volume on it, and a deleted volume whose snapshot is retained.
func (r *rig) makeHealthy() healthy {
	r.t.Helper()
	var h healthy
	h.volA = r.createVolume("pvc-a", nil, false)
	h.subA = h.volA.GetVolumeContext()["subvolumeName"]
	h.volB = r.createVolume("pvc-b", nil, false)
	h.snapB = r.Snapshot("snap-b", h.volB.GetVolumeId())
	h.shallow = r.createVolume("pvc-shallow", csisource.Snapshot(h.snapB.GetSnapshotId()), true)
	volC := r.createVolume("pvc-c", nil, false)
	h.snapC = r.Snapshot("snap-c", volC.GetVolumeId())
	r.DeleteVolume(volC.GetVolumeId())
	id := uuid.NewString()
	h.cephCSISnap = "csi-snap-" + id
	r.must(r.admin.CreateSnapshot(ctx(r.t), r.snap(h.subA, h.cephCSISnap)))
	r.must(r.store.SetOmap(ctx(r.t), "csi.snap."+id, map[string]string{"csi.snapname": "snap-cephcsi",
		"csi.imagename": h.cephCSISnap, "csi.source": h.subA}))
	r.must(r.store.SetOmap(ctx(r.t), "csi.snaps."+instance, map[string]string{"csi.snap.snap-cephcsi": id}))
	vid, err := volid.Decode(h.volA.GetVolumeId())
	r.must(err)
	vid.UUID = id
	h.cephCSIID, err = vid.Encode()
	r.must(err)
	return h
}

// makeRecordOrphans makes the orphans of the journal (kinds 1 to 4) and
// returns the findings the audit must report for them; subA is a healthy
// volume's subvolume.
func (r *rig) makeRecordOrphans(subA string) []string {
	r.t.Helper()
	t := r.t
	w := r.where() + "/"
	dirVols, dirSnaps := w+"csi.volumes."+instance, w+"csi.snaps."+instance
	sv := func(name string) string { return r.sub(name).String() }

	// 1. A directory entry whose UUID object is gone.
	dangling := r.reserve(journal.Volumes, "pvc-dangling", "")
	r.must(r.store.Remove(ctx(t), r.journal(journal.Volumes).UUIDObject(dangling.UUID)))
	// 2. A snapshot UUID object without its directory entry.
	unlisted := r.reserve(journal.Snapshots, "snap-unlisted", subA)
	r.must(r.store.RemoveOmapKeys(ctx(t), "csi.snaps."+instance, []string{"csi.snap.snap-unlisted"}))
	// 3. Records without their object: a reservation that never got its
	// subvolume, one whose subvolume was removed with a snapshot retained
	// (that snapshot is itself unrecorded), a snapshot record whose
	// snapshot was never taken.
	r.reserve(journal.Volumes, "pvc-nosubvolume", "")
	halfDeleted := r.reserve(journal.Volumes, "pvc-halfdeleted", "")
	halfDeletedSnap := "csi-snap-" + uuid.NewString()
	r.retained(halfDeleted.ImageName, halfDeletedSnap)
	r.reserve(journal.Snapshots, "snap-missing", subA)
	// 4. A snapshot taken whose record was never completed.
	incomplete := r.reserve(journal.Snapshots, "snap-incomplete", subA)
	r.must(r.admin.CreateSnapshot(ctx(t), r.snap(subA, incomplete.ImageName)))

	return []string{
		"dangling-entry " + dirVols + "[pvc-dangling]",
		"unreferenced-record " + w + "csi.snap." + unlisted.UUID,
		"missing-object " + dirVols + "[pvc-nosubvolume]",
		"missing-object " + dirVols + "[pvc-halfdeleted]",
		"unrecorded " + sv(halfDeleted.ImageName) + "@" + halfDeletedSnap,
		"missing-object " + dirSnaps + "[snap-missing]",
		"incomplete " + dirSnaps + "[snap-incomplete]",
	}
}

// unrecorded is what makeUnrecorded made.
type unrecorded struct {
	orphans    []string // the findings the audit must report
	busySub    string   // an orphan subvolume holding a foreign snapshot
	foreignSub string   // a subvolume without our prefix
}

// makeUnrecorded makes the unrecorded orphans (kind 5), one of them
// holding a snapshot not made by the driver, and a subvolume and a
// snapshot that are not ours; subA is a healthy volume's subvolume.
func (r *rig) makeUnrecorded(subA string) unrecorded {
	r.t.Helper()
	t := r.t
	sv := func(name string) string { return r.sub(name).String() }

	// 5. Unrecorded: a subvolume, a snapshot on a healthy volume, a
	// retained subvolume with its orphan snapshot, and a subvolume
	// holding a snapshot not made by the driver (kept even at grace 0).
	lostSub := "csi-vol-" + uuid.NewString()
	r.must(r.admin.CreateSubvolume(ctx(t), r.sub(lostSub), backend.CreateOptions{}))
	lostSnap := "csi-snap-" + uuid.NewString()
	r.must(r.admin.CreateSnapshot(ctx(t), r.snap(subA, lostSnap)))
	lostRetained, lostRetainedSnap := "csi-vol-"+uuid.NewString(), "csi-snap-"+uuid.NewString()
	r.retained(lostRetained, lostRetainedSnap)
	busySub := "csi-vol-" + uuid.NewString()
	r.must(r.admin.CreateSubvolume(ctx(t), r.sub(busySub), backend.CreateOptions{}))
	r.must(r.admin.CreateSnapshot(ctx(t), r.snap(busySub, "manual")))
	// Not ours: never reported, never touched.
	foreignSub := "keep-" + uuid.NewString()
	r.must(r.admin.CreateSubvolume(ctx(t), r.sub(foreignSub), backend.CreateOptions{}))
	r.must(r.admin.CreateSnapshot(ctx(t), r.snap(subA, "manual")))

	return unrecorded{
		orphans: []string{
			"unrecorded " + sv(lostSub),
			"unrecorded " + sv(subA) + "@" + lostSnap,
			"unrecorded " + sv(lostRetained),
			"unrecorded " + sv(lostRetained) + "@" + lostRetainedSnap,
			"unrecorded " + sv(busySub),
		},
		busySub: busySub, foreignSub: foreignSub,
	}
}

// checkHealthyAndCleanUp checks that what is not ours is untouched and that
// the healthy objects still work, then cleans up through the driver (and by
// hand for what is not ours).
func (r *rig) checkHealthyAndCleanUp(h healthy, foreignSub string) {
	r.t.Helper()
	t := r.t

	// What is not ours is untouched; the healthy objects still work.
	if snaps, err := r.admin.ListSnapshots(ctx(t), r.sub(h.subA)); err != nil ||
		!slices.Equal(slices.Sorted(slices.Values(snaps)), []string{h.cephCSISnap, "manual"}) {
		t.Fatalf("volume A's snapshots: %v, %v; want only ceph-csi's and the manual one left", snaps, err)
	}
	if _, err := r.admin.SubvolumeInfo(ctx(t), r.sub(foreignSub)); err != nil {
		t.Fatalf("subvolume %s is not ours, but: %v", foreignSub, err)
	}
	restored := r.createVolume("pvc-restored", csisource.Snapshot(h.snapC.GetSnapshotId()), false)
	snapB2 := r.Snapshot("snap-b2", h.volB.GetVolumeId())

	// Clean up through the driver (and by hand for what is not ours).
	r.DeleteVolume(restored.GetVolumeId())
	r.DeleteVolume(h.shallow.GetVolumeId())
	r.DeleteSnapshot(snapB2.GetSnapshotId())
	r.DeleteSnapshot(h.snapB.GetSnapshotId())
	r.DeleteSnapshot(h.snapC.GetSnapshotId())
	r.DeleteSnapshot(h.cephCSIID)
	r.DeleteVolume(h.volB.GetVolumeId())
	r.must(r.admin.RemoveSnapshot(ctx(t), r.snap(h.subA, "manual")))
	r.DeleteVolume(h.volA.GetVolumeId())
	r.must(r.admin.RemoveSubvolume(ctx(t), r.sub(foreignSub), false))
}

// makeHalfMade leaves a subvolume of ours whose create was cut off inside
// the mgr (no .meta) and returns the finding the audit must report.
func (r *rig) makeHalfMade() string {
	r.t.Helper()
	name := "csi-vol-" + uuid.NewString()
	r.must(cephfstest.LeaveHalfMadeSubvolume(r.conn, fsName, r.group, name, uuid.NewString()))
	return "half-made " + r.sub(name).String()
}
