package compat

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/cephrbd"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
)

// cephCSIGroup is a volume group snapshot as ceph-csi (v3.13+) leaves it:
// the group record csi.volume.group.<uuid> in csi.groups.<instance>
// (csi.volname, csi.groupname, csi.creationtime, <volume ID> = <snapshot
// ID>), its members' ceph-csi snapshot records under the request names
// <group name>-<volume ID>, and the RBD group csi-vol-group-<uuid> with
// the volumes and its group snapshot, which ceph-csi keeps. ceph-csi makes
// the members' csi-snap images with rbd_clone4 from the group snapshot;
// Pacific has no rbd_clone4, so the fixture's members are ceph-csi's
// ordinary snapshot images (cloned from a volume snapshot), which the
// driver handles the same way.
type cephCSIGroup struct {
	id, uuid, name string
	members        map[string]*cephCSISnapshot // by volume ID
}

func (r *rig) cephCSIGroup(req string, vols ...*cephCSIVolume) *cephCSIGroup {
	r.t.Helper()
	g := &cephCSIGroup{uuid: uuid.NewString(), members: map[string]*cephCSISnapshot{}}
	g.name = "csi-vol-group-" + g.uuid
	created, _ := time.Now().MarshalText()
	attrs := map[string]string{"csi.volname": req, "csi.groupname": g.name, "csi.creationtime": string(created)}
	sess := r.session()
	ref := backend.GroupRef{PoolRef: backend.PoolRef{Pool: r.pool}, Name: g.name}
	must(r.t, sess.CreateGroup(ctx(r.t), ref))
	for _, v := range vols {
		must(r.t, sess.AddGroupImage(ctx(r.t), ref, backend.ImageRef{PoolRef: ref.PoolRef, Name: v.image}))
		s := r.cephCSISnapshot(req+"-"+v.id, v)
		g.members[v.id] = s
		attrs[v.id] = s.id
	}
	must(r.t, sess.CreateGroupSnapshot(ctx(r.t), backend.GroupSnapRef{Group: ref, Snap: g.name}))
	r.journalRecord("csi.groups."+instance, "csi.volume.group.", req, g.uuid, "", attrs)
	g.id = csiID(r.cl.FSID, r.poolID(r.pool), g.uuid)
	return g
}

// session is a backend session for arranging fixtures below the CSI calls.
func (r *rig) session() backend.Session {
	r.t.Helper()
	creds, err := credentials.ForRBD(r.secrets)
	must(r.t, err)
	sess, err := cephrbd.New(r.cpool, cephrbd.Options{}).Connect(ctx(r.t),
		backend.Target{ClusterID: r.cl.FSID, Monitors: r.cl.Monitors, Creds: creds})
	must(r.t, err)
	r.t.Cleanup(sess.Release)
	return sess
}

// TestCephCSIGroupSnapshot: a volume group snapshot ceph-csi made is
// answered for a CreateVolumeGroupSnapshot retry with its own IDs (its RBD
// group and group snapshot left in place), reported by
// GetVolumeGroupSnapshot, its members restore, and DeleteVolumeGroupSnapshot
// removes the members, the RBD group and the record: the pool ends empty.
func TestCephCSIGroupSnapshot(t *testing.T) {
	r := newRig(t)
	a, b := r.cephCSIVolume("pvc-ga", volumeLayout{}), r.cephCSIVolume("pvc-gb", volumeLayout{})
	g := r.cephCSIGroup("groupsnapshot-cephcsi", a, b)

	resp, err := r.ctrl.Group().CreateVolumeGroupSnapshot(ctx(t), &csi.CreateVolumeGroupSnapshotRequest{
		Name: "groupsnapshot-cephcsi", SourceVolumeIds: []string{a.id, b.id}, Secrets: r.secrets})
	if err != nil {
		t.Fatalf("CreateVolumeGroupSnapshot retry: %v", err)
	}
	r.checkGroup("CreateVolumeGroupSnapshot retry", resp.GetGroupSnapshot(), g)
	groups, err := r.session().ListGroups(ctx(t), backend.PoolRef{Pool: r.pool})
	if err != nil || len(groups) != 1 || groups[0] != g.name {
		t.Errorf("RBD groups after the retry: %v, %v; want ceph-csi's %s kept", groups, err, g.name)
	}
	get, err := r.ctrl.Group().GetVolumeGroupSnapshot(ctx(t), &csi.GetVolumeGroupSnapshotRequest{
		GroupSnapshotId: g.id, Secrets: r.secrets})
	if err != nil {
		t.Fatalf("GetVolumeGroupSnapshot: %v", err)
	}
	r.checkGroup("GetVolumeGroupSnapshot", get.GetGroupSnapshot(), g)

	restored := r.restoreOf("pvc-restored", g.members[a.id].id, nil)
	r.deleteVolume(restored.GetVolumeId())
	_, err = r.ctrl.Group().DeleteVolumeGroupSnapshot(ctx(t), &csi.DeleteVolumeGroupSnapshotRequest{
		GroupSnapshotId: g.id, Secrets: r.secrets})
	if err != nil {
		t.Fatalf("DeleteVolumeGroupSnapshot: %v", err)
	}
	_, err = r.ctrl.Group().GetVolumeGroupSnapshot(ctx(t), &csi.GetVolumeGroupSnapshotRequest{
		GroupSnapshotId: g.id, Secrets: r.secrets})
	if status.Code(err) != codes.NotFound {
		t.Errorf("GetVolumeGroupSnapshot after the delete: %v, want NotFound", err)
	}
	r.deleteVolume(a.id)
	r.deleteVolume(b.id)
}

func (r *rig) checkGroup(what string, got *csi.VolumeGroupSnapshot, g *cephCSIGroup) {
	r.t.Helper()
	if got.GetGroupSnapshotId() != g.id || !got.GetReadyToUse() || len(got.GetSnapshots()) != len(g.members) {
		r.t.Fatalf("%s: %v, want ID %s with %d ready members", what, got, g.id, len(g.members))
	}
	for _, s := range got.GetSnapshots() {
		want := g.members[s.GetSourceVolumeId()]
		if want == nil || s.GetSnapshotId() != want.id || !s.GetReadyToUse() || s.GetGroupSnapshotId() != g.id {
			r.t.Errorf("%s: member %v, want snapshot %v of the group", what, s, want)
		}
	}
}

// TestGroupSnapshotClassJournalPool: with a VolumeGroupSnapshotClass
// journalPool, the group record (directory entry and record) is in that
// pool, as ceph-csi's CreateVolumeGroup reserves it, and the group
// snapshot ID names it; the member snapshots are journaled with their
// volumes (the image pool). A retry, Get and Delete find it; both pools
// end empty.
func TestGroupSnapshotClassJournalPool(t *testing.T) {
	r := newRig(t)
	jpool := poolName(t, "-jrn")
	r.addPool(jpool)
	a := r.create(r.volReq("pvc-ga", fixtureSize, nil))
	create := func() *csi.VolumeGroupSnapshot {
		resp, err := r.ctrl.Group().CreateVolumeGroupSnapshot(ctx(t), &csi.CreateVolumeGroupSnapshotRequest{
			Name: "group-jp", SourceVolumeIds: []string{a.GetVolumeId()}, Secrets: r.secrets,
			Parameters: map[string]string{"clusterID": r.cl.FSID, "pool": r.pool, "journalPool": jpool}})
		if err != nil {
			t.Fatalf("CreateVolumeGroupSnapshot: %v", err)
		}
		return resp.GetGroupSnapshot()
	}
	gs := create()
	r.wantEntry(jpool, "csi.groups."+instance+"[csi.volume.group.group-jp]", true)
	r.wantEntry(r.pool, "csi.groups."+instance+"[csi.volume.group.group-jp]", false)
	r.wantEntry(r.pool, "csi.snaps."+instance+"[csi.snap.group-jp-"+a.GetVolumeId()+"]", true)
	if want := fmt.Sprintf("-%016x-", r.poolID(jpool)); !strings.Contains(gs.GetGroupSnapshotId(), want) {
		t.Errorf("group snapshot ID %s does not name the journal pool (%s)", gs.GetGroupSnapshotId(), want)
	}
	if again := create(); again.GetGroupSnapshotId() != gs.GetGroupSnapshotId() {
		t.Errorf("retry gave %s, want %s", again.GetGroupSnapshotId(), gs.GetGroupSnapshotId())
	}
	if _, err := r.ctrl.Group().GetVolumeGroupSnapshot(ctx(t), &csi.GetVolumeGroupSnapshotRequest{
		GroupSnapshotId: gs.GetGroupSnapshotId(), Secrets: r.secrets}); err != nil {
		t.Fatalf("GetVolumeGroupSnapshot: %v", err)
	}
	if _, err := r.ctrl.Group().DeleteVolumeGroupSnapshot(ctx(t), &csi.DeleteVolumeGroupSnapshotRequest{
		GroupSnapshotId: gs.GetGroupSnapshotId(), Secrets: r.secrets}); err != nil {
		t.Fatalf("DeleteVolumeGroupSnapshot: %v", err)
	}
	r.deleteVolume(a.GetVolumeId())
}
