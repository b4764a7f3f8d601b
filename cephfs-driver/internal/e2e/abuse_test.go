package e2e

import (
	"context"
	"errors"
	"fmt"
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
	t.Chdir(e.tmp) // a relative path the node took would land here
	vol := e.createVolume("abuse", 64*mib, nil, rwx)
	snap := e.createSnapshot("abuse-snap", vol.GetVolumeId())
	c := &csiabuse.Controller{T: t, Client: e.ctrl,
		NewVolume: func() *csi.CreateVolumeRequest {
			return &csi.CreateVolumeRequest{Name: "abused", CapacityRange: &csi.CapacityRange{RequiredBytes: 64 * mib},
				VolumeCapabilities: []*csi.VolumeCapability{mountCap(csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER)},
				Parameters:         e.params(), Secrets: e.adminSecrets()}
		},
		Secrets: e.adminSecrets(), KeyField: credentials.AdminKeyField,
		VolumeName: "abuse", VolumeID: vol.GetVolumeId(), SnapshotName: "abuse-snap", SnapshotID: snap.GetSnapshotId(),
		NewSnapshotName: "abused-snap", Location: "file system", Capabilities: []*csi.VolumeCapability{rwx},
		Parameters: e.params()}
	csiabuse.Check(t, e.ctx, e.cluster.AdminKey, e.state,
		slices.Concat(c.CreateAbuses(), c.IDAbuses(), e.createAbuses(c), e.idAbuses(c), e.nodeAbuses(vol)))
	for _, p := range []string{e.path("abused-staging"), e.path("abused-target")} {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the refused node requests left %s: %v", p, err)
		}
	}
	if err := e.deleteSnapshot(snap.GetSnapshotId()); err != nil {
		t.Fatal(err)
	}
	e.deleteVolume(vol.GetVolumeId())
}

// state describes the group's subvolumes and the journal namespace.
func (e *env) state() string {
	ctx := context.Background()
	var b strings.Builder
	subs, err := e.admin.ListSubvolumes(ctx, fsName, e.group)
	if errors.Is(err, backend.ErrNotFound) {
		err = nil // no group yet
	}
	fmt.Fprintf(&b, "subvolumes %v %v;", subs, err)
	for _, s := range subs {
		ref := backend.SubvolumeRef{FS: fsName, Group: e.group, Name: s}
		info, err := e.admin.SubvolumeInfo(ctx, ref)
		snaps, serr := e.admin.ListSnapshots(ctx, ref)
		if info != nil {
			info.CreatedAt = info.CreatedAt.UTC()
		}
		fmt.Fprintf(&b, " %s %+v %v snapshots %v %v;", s, info, err, snaps, serr)
	}
	for _, o := range e.objects() {
		kv, _ := e.store.ListOmap(ctx, o, "")
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
	otherCluster := csiabuse.Reencode(e.t, c.SnapshotID, func(id *volid.ID) { id.ClusterID = "not-configured" })
	return []csiabuse.Abuse{
		c.Create("above its limit", func(q *csi.CreateVolumeRequest) { q.CapacityRange.LimitBytes = mib }, codes.OutOfRange),
		c.Create("on a missing file system", func(q *csi.CreateVolumeRequest) { q.Parameters["fsName"] = "no-such-fs" },
			inv, codes.NotFound),
		c.Create("in a pool that is no data pool", func(q *csi.CreateVolumeRequest) { q.Parameters["pool"] = "rbd" }, inv),
		c.Create("with a name prefix that climbs", func(q *csi.CreateVolumeRequest) { q.Parameters["volumeNamePrefix"] = "../x" }, inv),
		c.Create("shallow without a snapshot", func(q *csi.CreateVolumeRequest) {
			q.Parameters["backingSnapshot"] = "true"
			q.VolumeCapabilities = []*csi.VolumeCapability{mountCap(csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY)}
		}, inv),
		c.Create("with a non-boolean backingSnapshot", func(q *csi.CreateVolumeRequest) { q.Parameters["backingSnapshot"] = "maybe" }, inv),
		c.Create("with node secrets only", func(q *csi.CreateVolumeRequest) { q.Secrets = e.nodeSecrets() }, inv),
		c.Create("for block access", func(q *csi.CreateVolumeRequest) {
			q.VolumeCapabilities = []*csi.VolumeCapability{{
				AccessType: &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}},
				AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER}}}
		}, inv),
		c.Create("from a snapshot of another cluster", func(q *csi.CreateVolumeRequest) {
			q.VolumeContentSource = snapshotSource(otherCluster)
		}, inv, codes.NotFound),
	}
}

// idAbuses are the requests on IDs whose outcome is the CephFS driver's own.
func (e *env) idAbuses(c *csiabuse.Controller) []csiabuse.Abuse {
	otherCluster := csiabuse.Reencode(e.t, c.VolumeID, func(id *volid.ID) { id.ClusterID = "not-configured" })
	return []csiabuse.Abuse{
		c.Delete("of an unconfigured cluster", otherCluster, codes.InvalidArgument, codes.NotFound),
		c.Snapshot("on another cluster", map[string]string{"clusterID": "not-configured"}, codes.InvalidArgument),
		c.Snapshot("with an unknown parameter", map[string]string{"pool": "x"}, codes.InvalidArgument),
	}
}

// nodeAbuses are node requests refused before anything is mounted.
func (e *env) nodeAbuses(vol *csi.Volume) []csiabuse.Abuse {
	n := e.node
	stage := func(name string, change func(*csi.NodeStageVolumeRequest), want ...codes.Code) csiabuse.Abuse {
		return csiabuse.Abuse{Name: "NodeStageVolume " + name, Codes: want, Call: func(ctx context.Context) (proto.Message, error) {
			req := &csi.NodeStageVolumeRequest{VolumeId: vol.GetVolumeId(), StagingTargetPath: e.path("abused-staging"),
				VolumeCapability: rwx, VolumeContext: vol.GetVolumeContext(), Secrets: e.nodeSecrets()}
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
				AccessMode: rwx.GetAccessMode()}
		}, inv),
		stage("without secrets", func(q *csi.NodeStageVolumeRequest) { q.Secrets = nil }, inv),
		stage("of a subvolume path that climbs", func(q *csi.NodeStageVolumeRequest) {
			q.VolumeContext = map[string]string{"clusterID": e.cluster.FSID, "fsName": fsName, "subvolumePath": "relative/../x"}
		}, inv),
		stage("with an unknown mounter", func(q *csi.NodeStageVolumeRequest) {
			q.VolumeContext = map[string]string{"clusterID": e.cluster.FSID, "fsName": fsName,
				"subvolumePath": vol.GetVolumeContext()["subvolumePath"], "mounter": "evil"}
		}, inv),
		{Name: "NodePublishVolume of an unstaged volume", Codes: []codes.Code{codes.FailedPrecondition},
			Call: func(ctx context.Context) (proto.Message, error) {
				return n.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: vol.GetVolumeId(),
					StagingTargetPath: e.path("abused-staging"), TargetPath: e.path("abused-target"), VolumeCapability: rwx})
			}},
		{Name: "NodeUnpublishVolume at a path with a NUL byte", Codes: []codes.Code{inv},
			Call: func(ctx context.Context) (proto.Message, error) {
				return n.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: vol.GetVolumeId(),
					TargetPath: e.path("abused-target\x00")})
			}},
	}
}
