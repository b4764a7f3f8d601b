package integration

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/seed-6a310834/ceph-csi/shared/csisource"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/seed-6a310834/ceph-csi/shared/csiabuse"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// TestAbuseCreatesNothing sends a few dozen abusive requests through gRPC
// to a controller on the real cluster and checks each one's code, that no
// message holds the key, and that the pool (images, trash, mgr tasks,
// journal objects and keys) and the existing volume's snapshots are
// exactly as before it.
func TestAbuseCreatesNothing(t *testing.T) {
	r := newRig(t, 4, 8)
	vol := r.create(r.ctrl, r.volReq("pvc-abuse", 64*mib))
	snap := r.snapshot("snap-abuse", vol.GetVolumeId())
	c := &csiabuse.Controller{T: t, Client: csiabuse.Serve(t, r.ctrl),
		NewVolume: func() *csi.CreateVolumeRequest { return r.volReq("pvc-abused", 64*mib) },
		Secrets:   r.secrets, KeyField: "userKey",
		VolumeName: "pvc-abuse", VolumeID: vol.GetVolumeId(), SnapshotName: "snap-abuse", SnapshotID: snap.GetSnapshotId(),
		NewSnapshotName: "snap-abused", Location: "pool", Capabilities: r.volReq("x", 0).GetVolumeCapabilities(),
		Parameters: map[string]string{"pool": r.pool}}
	csiabuse.Check(t, func() context.Context { return ctx(t) }, r.cl.AdminKey, func() string { return r.state(vol) },
		slices.Concat(c.CreateAbuses(), c.IDAbuses(), r.createAbuses(c), r.idAbuses(c)))
	r.deleteSnapshot(snap.GetSnapshotId())
	r.deleteVolume(vol.GetVolumeId())
}

// state describes the pool and the volume's snapshots.
func (r *rig) state(vol *csi.Volume) string {
	r.t.Helper()
	c, err := r.admin.Audit(r.pool, "")
	if err != nil {
		r.t.Fatal(err)
	}
	return c.String() + ", snapshots " + strings.Join(r.describe(vol).Snapshots, ",")
}

// createAbuses are the CreateVolume requests only the RBD driver refuses.
func (r *rig) createAbuses(c *csiabuse.Controller) []csiabuse.Abuse {
	inv := codes.InvalidArgument
	otherCluster := csiabuse.Reencode(r.t, c.SnapshotID, func(id *volid.ID) { id.ClusterID = "not-configured" })
	return []csiabuse.Abuse{
		c.Create("above its limit", func(q *csi.CreateVolumeRequest) { q.CapacityRange.LimitBytes = mib }, inv),
		c.Create("within a limit below one MiB", func(q *csi.CreateVolumeRequest) {
			q.CapacityRange = &csi.CapacityRange{LimitBytes: mib - 1}
		}, codes.OutOfRange),
		c.Create("in a missing pool", func(q *csi.CreateVolumeRequest) { q.Parameters["pool"] = "no-such-pool" }, inv),
		c.Create("with a pool name that breaks image specs", func(q *csi.CreateVolumeRequest) { q.Parameters["pool"] = "a/b@c" }, inv),
		c.Create("with a missing data pool", func(q *csi.CreateVolumeRequest) { q.Parameters["dataPool"] = "no-such-pool" }, inv),
		c.Create("with an unknown feature", func(q *csi.CreateVolumeRequest) { q.Parameters["imageFeatures"] = "layering,turbo" }, inv),
		c.Create("encrypted", func(q *csi.CreateVolumeRequest) { q.Parameters["encrypted"] = "true" }, inv),
		c.Create("without a key", func(q *csi.CreateVolumeRequest) { q.Secrets = c.SecretsWith("userKey", "-") }, inv),
		c.Create("multi-node writer on a filesystem", func(q *csi.CreateVolumeRequest) {
			q.VolumeCapabilities[0].AccessMode.Mode = csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER
		}, inv),
		c.Create("from a snapshot of another cluster", func(q *csi.CreateVolumeRequest) {
			q.VolumeContentSource = csisource.Snapshot(otherCluster)
		}, inv),
	}
}

// idAbuses are the requests on IDs whose outcome is the RBD driver's own.
func (r *rig) idAbuses(c *csiabuse.Controller) []csiabuse.Abuse {
	otherCluster := csiabuse.Reencode(r.t, c.VolumeID, func(id *volid.ID) { id.ClusterID = "not-configured" })
	return []csiabuse.Abuse{
		c.Delete("of an unconfigured cluster", otherCluster, codes.NotFound),
		c.Snapshot("into another pool", map[string]string{"pool": "rbd"}, codes.InvalidArgument),
		c.Snapshot("with an unknown parameter", map[string]string{"snapshotNamePrefx": "x"}, codes.InvalidArgument),
	}
}
