package integration

import (
	"context"
	"errors"
	"fmt"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/test/rig"
	"io/fs"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/csiabuse"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// TestAbuseCreatesNothing sends a few dozen abusive requests through the
// driver's gRPC server to the real cluster and checks each one's code, that
// no message holds the key, and that the subvolume group (subvolumes,
// their state, quota and snapshots) and the journal namespace (objects and
// omap keys) are exactly as before it. Requests with credentials Ceph
// refuses wait for the connect timeout, so the table has just one.
func TestAbuseCreatesNothing(t *testing.T) {
	e := newEnv(t)
	t.Chdir(e.Tmp) // a relative path the node took would land here
	vol := e.CreateVolume("abuse", 64*rig.MiB, nil, rig.RWX)
	snap := e.CreateSnapshot("abuse-snap", vol.GetVolumeId())
	c := &csiabuse.Controller{T: t, Client: e.Ctrl,
		NewVolume: func() *csi.CreateVolumeRequest {
			return &csi.CreateVolumeRequest{Name: "abused", CapacityRange: &csi.CapacityRange{RequiredBytes: 64 * rig.MiB},
				VolumeCapabilities: []*csi.VolumeCapability{rig.MountCap(csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER)},
				Parameters:         e.Params(), Secrets: e.AdminSecrets()}
		},
		Secrets: e.AdminSecrets(), KeyField: credentials.AdminKeyField,
		VolumeName: "abuse", VolumeID: vol.GetVolumeId(), SnapshotName: "abuse-snap", SnapshotID: snap.GetSnapshotId(),
		NewSnapshotName: "abused-snap", Location: "file system", Capabilities: []*csi.VolumeCapability{rig.RWX},
		Parameters: e.Params()}
	csiabuse.Check(t, e.Ctx, e.Cluster.AdminKey, e.state,
		slices.Concat(c.CreateAbuses(), c.IDAbuses(), e.createAbuses(c), e.idAbuses(c), e.nodeAbuses(vol)))
	for _, p := range []string{e.Path("abused-staging"), e.Path("abused-target")} {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the refused node requests left %s: %v", p, err)
		}
	}
	if err := e.DeleteSnapshot(snap.GetSnapshotId()); err != nil {
		t.Fatal(err)
	}
	e.DeleteVolume(vol.GetVolumeId())
}

// state describes the group's subvolumes and the journal namespace.
func (e *env) state() string {
	ctx := context.Background()
	var b strings.Builder
	subs, err := e.Admin.ListSubvolumes(ctx, rig.FSName, e.Group)
	if errors.Is(err, backend.ErrNotFound) {
		err = nil // no group yet
	}
	fmt.Fprintf(&b, "subvolumes %v %v;", subs, err)
	for _, s := range subs {
		ref := backend.SubvolumeRef{FS: rig.FSName, Group: e.Group, Name: s}
		info, err := e.Admin.SubvolumeInfo(ctx, ref)
		snaps, serr := e.Admin.ListSnapshots(ctx, ref)
		if info != nil {
			info.CreatedAt = info.CreatedAt.UTC()
		}
		fmt.Fprintf(&b, " %s %+v %v snapshots %v %v;", s, info, err, snaps, serr)
	}
	for _, o := range e.Objects() {
		kv, _ := e.Store.ListOmap(ctx, o, "")
		keys := make([]string, 0, len(kv))
		for k := range kv {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(&b, " %s%v", o, keys)
	}
	return b.String()
}

// createAbuses are the CreateVolume requests only the CephFS driver
// refuses, or refuses with codes of its own.
func (e *env) createAbuses(c *csiabuse.Controller) []csiabuse.Abuse {
	inv := codes.InvalidArgument
	otherCluster := csiabuse.Reencode(e.T, c.SnapshotID, func(id *volid.ID) { id.ClusterID = "not-configured" })
	return []csiabuse.Abuse{
		c.Create("above its limit", func(q *csi.CreateVolumeRequest) { q.CapacityRange.LimitBytes = rig.MiB }, codes.OutOfRange),
		c.Create("on a missing file system", func(q *csi.CreateVolumeRequest) { q.Parameters["fsName"] = "no-such-fs" },
			inv, codes.NotFound),
		c.Create("in a pool that is no data pool", func(q *csi.CreateVolumeRequest) { q.Parameters["pool"] = "rbd" }, inv),
		c.Create("with a name prefix that climbs", func(q *csi.CreateVolumeRequest) { q.Parameters["volumeNamePrefix"] = "../x" }, inv),
		c.Create("shallow without a snapshot", func(q *csi.CreateVolumeRequest) {
			q.Parameters["backingSnapshot"] = "true"
			q.VolumeCapabilities = []*csi.VolumeCapability{rig.MountCap(csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY)}
		}, inv),
		c.Create("with a non-boolean backingSnapshot", func(q *csi.CreateVolumeRequest) { q.Parameters["backingSnapshot"] = "maybe" }, inv),
		c.Create("with node secrets only", func(q *csi.CreateVolumeRequest) { q.Secrets = e.NodeSecrets() }, inv),
		c.Create("for block access", func(q *csi.CreateVolumeRequest) {
			q.VolumeCapabilities = []*csi.VolumeCapability{{
				AccessType: &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}},
				AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER}}}
		}, inv),
		c.Create("from a snapshot of another cluster", func(q *csi.CreateVolumeRequest) {
			q.VolumeContentSource = rig.SnapshotSource(otherCluster)
		}, inv, codes.NotFound),
	}
}

// idAbuses are the requests on IDs whose outcome is the CephFS driver's own.
func (e *env) idAbuses(c *csiabuse.Controller) []csiabuse.Abuse {
	otherCluster := csiabuse.Reencode(e.T, c.VolumeID, func(id *volid.ID) { id.ClusterID = "not-configured" })
	return []csiabuse.Abuse{
		c.Delete("of an unconfigured cluster", otherCluster, codes.InvalidArgument, codes.NotFound),
		c.Snapshot("on another cluster", map[string]string{"clusterID": "not-configured"}, codes.InvalidArgument),
		c.Snapshot("with an unknown parameter", map[string]string{"pool": "x"}, codes.InvalidArgument),
	}
}

// nodeAbuses are node requests refused before anything is mounted.
func (e *env) nodeAbuses(vol *csi.Volume) []csiabuse.Abuse {
	n := e.Node
	stage := func(name string, change func(*csi.NodeStageVolumeRequest), want ...codes.Code) csiabuse.Abuse {
		return csiabuse.Abuse{Name: "NodeStageVolume " + name, Codes: want, Call: func(ctx context.Context) (proto.Message, error) {
			req := &csi.NodeStageVolumeRequest{VolumeId: vol.GetVolumeId(), StagingTargetPath: e.Path("abused-staging"),
				VolumeCapability: rig.RWX, VolumeContext: vol.GetVolumeContext(), Secrets: e.NodeSecrets()}
			change(req)
			return n.NodeStageVolume(ctx, req)
		}}
	}
	inv := codes.InvalidArgument
	return []csiabuse.Abuse{
		stage("at a relative path", func(q *csi.NodeStageVolumeRequest) { q.StagingTargetPath = "abused-staging" }, inv),
		stage("at a path with a NUL byte", func(q *csi.NodeStageVolumeRequest) { q.StagingTargetPath += "\x00x" }, inv),
		stage("at a path too long", func(q *csi.NodeStageVolumeRequest) {
			q.StagingTargetPath += strings.Repeat("/d", 2100)
		}, inv),
		stage("for block access", func(q *csi.NodeStageVolumeRequest) {
			q.VolumeCapability = &csi.VolumeCapability{AccessType: &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}},
				AccessMode: rig.RWX.GetAccessMode()}
		}, inv),
		stage("without secrets", func(q *csi.NodeStageVolumeRequest) { q.Secrets = nil }, inv),
		stage("of a subvolume path that climbs", func(q *csi.NodeStageVolumeRequest) {
			q.VolumeContext = map[string]string{"clusterID": e.Cluster.FSID, "fsName": rig.FSName, "subvolumePath": "relative/../x"}
		}, inv),
		stage("with an unknown mounter", func(q *csi.NodeStageVolumeRequest) {
			q.VolumeContext = map[string]string{"clusterID": e.Cluster.FSID, "fsName": rig.FSName,
				"subvolumePath": vol.GetVolumeContext()["subvolumePath"], "mounter": "evil"}
		}, inv),
		{Name: "NodePublishVolume of an unstaged volume", Codes: []codes.Code{codes.FailedPrecondition},
			Call: func(ctx context.Context) (proto.Message, error) {
				return n.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: vol.GetVolumeId(),
					StagingTargetPath: e.Path("abused-staging"), TargetPath: e.Path("abused-target"), VolumeCapability: rig.RWX})
			}},
		{Name: "NodeUnpublishVolume at a path with a NUL byte", Codes: []codes.Code{inv},
			Call: func(ctx context.Context) (proto.Message, error) {
				return n.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: vol.GetVolumeId(),
					TargetPath: e.Path("abused-target\x00")})
			}},
	}
}
