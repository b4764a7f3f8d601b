package reliability

import (
	"context"
	"fmt"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/cephrbd"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
)

// nth names the (n+1)th hit of a step (see crashEnv).
func nth(step string, n int) string { return fmt.Sprintf("%s#%d", step, n) }

// The group snapshot flows, over two source volumes. CreateVolumeGroupSnapshot
// reserves the group record (then its members) and the two member records, makes the RBD
// group with both images, snapshots it, copies each member's snapshot into
// its csi-snap image (Pacific: rbd_clone4 is missing) with that image's
// snapshot and csi.imageid, and removes the RBD group snapshot and group.
// DeleteVolumeGroupSnapshot deletes each member as DeleteSnapshot deletes a
// ceph-csi snapshot, then the group record.
var groupFlows = []flow{
	{name: "CreateVolumeGroupSnapshot", prepare: createGroupRun, steps: steps(
		one(journal.StepGroupReserveUUIDCreated, journal.StepGroupReserveDirectoryWritten,
			journal.StepGroupMembersAdded),
		reserveSteps, one(nth(journal.StepReserveUUIDCreated, 1), nth(journal.StepReserveDirectoryWritten, 1)),
		one(cephrbd.StepGroupCreated, cephrbd.StepGroupImageAdded, nth(cephrbd.StepGroupImageAdded, 1),
			cephrbd.StepGroupSnapCreated),
		one(cephrbd.StepGroupImageCopied, cephrbd.StepSnapshotCreated, journal.StepAttributesSet),
		one(nth(cephrbd.StepGroupImageCopied, 1), nth(cephrbd.StepSnapshotCreated, 1),
			nth(journal.StepAttributesSet, 1)),
		one(cephrbd.StepGroupSnapRemoved, cephrbd.StepGroupImageRemoved, nth(cephrbd.StepGroupImageRemoved, 1),
			cephrbd.StepGroupRemoved))},
	{name: "DeleteVolumeGroupSnapshot", prepare: deleteGroupRun, steps: steps(
		one(cephrbd.StepSnapshotRemoved, cephrbd.StepImageTrashed, cephrbd.StepPurgeQueued), undoSteps,
		one(nth(cephrbd.StepSnapshotRemoved, 1), nth(cephrbd.StepImageTrashed, 1), nth(cephrbd.StepPurgeQueued, 1)),
		one(nth(journal.StepUndoDirectoryRemoved, 1), nth(journal.StepUndoUUIDRemoved, 1)),
		one(journal.StepGroupUndoDirectoryRemoved, journal.StepGroupUndoUUIDRemoved))},
}

func init() { flows = append(flows, groupFlows...) }

// groupFixture is two source volumes.
type groupFixture struct {
	a, b *source
}

func (r *rig) groupFixture(h *driver, prefix string) *groupFixture {
	return &groupFixture{a: r.source(h, prefix+"-a", false), b: r.source(h, prefix+"-b", false)}
}

func (g *groupFixture) ids() []string { return []string{g.a.vol.GetVolumeId(), g.b.vol.GetVolumeId()} }

func (r *rig) groupReq(name string, vols []string) *csi.CreateVolumeGroupSnapshotRequest {
	return &csi.CreateVolumeGroupSnapshotRequest{Name: name, SourceVolumeIds: vols, Secrets: r.secrets,
		Parameters: map[string]string{"clusterID": r.cl.FSID, "pool": r.pool}}
}

func (r *rig) createGroupCall(name string, vols []string) call {
	return func(ctx context.Context, c csi.ControllerClient) (string, error) {
		resp, err := groupClient(c).CreateVolumeGroupSnapshot(ctx, r.groupReq(name, vols))
		return resp.GetGroupSnapshot().GetGroupSnapshotId(), err
	}
}

func (r *rig) deleteGroupCall(id string) call {
	return func(ctx context.Context, c csi.ControllerClient) (string, error) {
		_, err := groupClient(c).DeleteVolumeGroupSnapshot(ctx, &csi.DeleteVolumeGroupSnapshotRequest{
			GroupSnapshotId: id, Secrets: r.secrets})
		return "", err
	}
}

// createGroup takes a group snapshot through h and returns it.
func (r *rig) createGroup(h *driver, name string, vols []string) *csi.VolumeGroupSnapshot {
	r.t.Helper()
	ctx, cancel := callCtx()
	defer cancel()
	resp, err := groupClient(h.csi).CreateVolumeGroupSnapshot(ctx, r.groupReq(name, vols))
	if err != nil {
		r.t.Fatalf("CreateVolumeGroupSnapshot(%s): %v", name, err)
	}
	return resp.GetGroupSnapshot()
}

func (r *rig) deleteGroup(h *driver, id string) {
	r.t.Helper()
	if err := retryAborted(func(ctx context.Context) error { _, err := r.deleteGroupCall(id)(ctx, h.csi); return err }); err != nil {
		r.t.Fatalf("DeleteVolumeGroupSnapshot(%s): %v", id, err)
	}
}

func createGroupRun(r *rig, h *driver, tag string) *run {
	fx := r.groupFixture(h, "cg-"+tag)
	name := "cg-" + tag
	return &run{
		call:    r.createGroupCall(name, fx.ids()),
		check:   func(id string) { r.checkGroup(h, fx, name, id) },
		cleanup: func(id string) { r.deleteGroup(h, id); fx.delete(r, h) },
	}
}

func (fx *groupFixture) delete(r *rig, h *driver) {
	r.deleteVolume(h, fx.a.vol.GetVolumeId())
	r.deleteVolume(h, fx.b.vol.GetVolumeId())
}

// checkGroup asserts that the pool holds the two volumes, the two member
// csi-snap images with their snapshot, the records, and no RBD group.
func (r *rig) checkGroup(h *driver, fx *groupFixture, name, id string) {
	r.t.Helper()
	ctx, cancel := callCtx()
	defer cancel()
	resp, err := groupClient(h.csi).GetVolumeGroupSnapshot(ctx, &csi.GetVolumeGroupSnapshotRequest{
		GroupSnapshotId: id, Secrets: r.secrets})
	if err != nil || len(resp.GetGroupSnapshot().GetSnapshots()) != 2 || !resp.GetGroupSnapshot().GetReadyToUse() {
		r.t.Errorf("GetVolumeGroupSnapshot(%s) = %v, %v", id, resp, err)
		return
	}
	images := []string{image(fx.a.vol), image(fx.b.vol)}
	var snapNames, snapUUIDs []string
	for _, s := range resp.GetGroupSnapshot().GetSnapshots() {
		img := "csi-snap-" + r.uuidOf(s.GetSnapshotId())
		images = append(images, img)
		snapNames = append(snapNames, name+"-"+s.GetSourceVolumeId())
		snapUUIDs = append(snapUUIDs, r.uuidOf(s.GetSnapshotId()))
		if got := r.userSnapshots(img); !sameSet(got, []string{img}) {
			r.t.Errorf("snapshots of %s = %v, want [%s]", img, got, img)
		}
	}
	r.check(expect{images: images, volNames: []string{fx.a.name, fx.b.name},
		volUUIDs: []string{fx.a.volUUID(r), fx.b.volUUID(r)}, snapNames: snapNames, snapUUIDs: snapUUIDs,
		groupNames: []string{name}, groupUUIDs: []string{r.uuidOf(id)}})
}

func deleteGroupRun(r *rig, h *driver, tag string) *run {
	fx := r.groupFixture(h, "dg-"+tag)
	gs := r.createGroup(h, "dg-"+tag, fx.ids())
	return &run{
		call: r.deleteGroupCall(gs.GetGroupSnapshotId()),
		check: func(string) {
			r.check(expect{images: []string{image(fx.a.vol), image(fx.b.vol)},
				volNames: []string{fx.a.name, fx.b.name}, volUUIDs: []string{fx.a.volUUID(r), fx.b.volUUID(r)},
				snapNames: []string{}, snapUUIDs: []string{}})
		},
		cleanup: func(string) { fx.delete(r, h) },
	}
}
