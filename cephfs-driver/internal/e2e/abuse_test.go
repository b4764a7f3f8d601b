package e2e

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/csifuzz"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// abuse is one abusive request: the call and the codes it may end with
// (none: it must succeed, as deleting what cannot exist does).
type abuse struct {
	name  string
	call  func(ctx context.Context) (proto.Message, error)
	codes []codes.Code
}

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
	for _, a := range slices.Concat(e.createAbuses(vol.GetVolumeId(), snap.GetSnapshotId()),
		e.idAbuses(vol.GetVolumeId(), snap.GetSnapshotId()), e.nodeAbuses(vol)) {
		before := e.state()
		_, err := a.call(e.ctx())
		switch st, _ := status.FromError(err); {
		case len(a.codes) == 0 && err != nil:
			t.Errorf("%s: %v, want success", a.name, err)
		case len(a.codes) > 0 && !slices.Contains(a.codes, st.Code()):
			t.Errorf("%s: %v (%v), want one of %v", a.name, st.Code(), err, a.codes)
		case strings.Contains(st.Message(), e.cluster.AdminKey):
			t.Errorf("%s: the error message holds the key", a.name)
		}
		if after := e.state(); after != before {
			t.Errorf("%s changed the cluster:\nbefore: %s\nafter:  %s", a.name, before, after)
		}
	}
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

func (e *env) secretsWith(field, value string) map[string]string {
	s := e.adminSecrets()
	if value == "-" {
		delete(s, field)
	} else {
		s[field] = value
	}
	return s
}

func (e *env) createAbuses(volID, snapID string) []abuse {
	create := func(name string, change func(*csi.CreateVolumeRequest), want ...codes.Code) abuse {
		return abuse{name: "CreateVolume " + name, codes: want, call: func(ctx context.Context) (proto.Message, error) {
			req := &csi.CreateVolumeRequest{Name: "abused", CapacityRange: &csi.CapacityRange{RequiredBytes: 64 * mib},
				VolumeCapabilities: []*csi.VolumeCapability{mountCap(csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER)},
				Parameters:         e.params(), Secrets: e.adminSecrets()}
			change(req)
			return e.ctrl.CreateVolume(ctx, req)
		}}
	}
	inv := codes.InvalidArgument
	unknownSnap := reencode(e.t, snapID, func(id *volid.ID) { id.UUID = "00000000-0000-4000-8000-000000000000" })
	otherCluster := reencode(e.t, snapID, func(id *volid.ID) { id.ClusterID = "not-configured" })
	return []abuse{
		create("without a name", func(q *csi.CreateVolumeRequest) { q.Name = "" }, inv),
		create("with a 1400-byte name of odd UTF-8 and an unknown parameter", func(q *csi.CreateVolumeRequest) {
			q.Name = strings.Repeat("\u202e名\x00", 200)
			q.Parameters["unknownParameter"] = "1"
		}, inv),
		create("of negative size", func(q *csi.CreateVolumeRequest) { q.CapacityRange.RequiredBytes = -1 }, inv),
		create("of negative limit", func(q *csi.CreateVolumeRequest) { q.CapacityRange.LimitBytes = math.MinInt64 }, inv),
		create("of MaxInt64 bytes", func(q *csi.CreateVolumeRequest) { q.CapacityRange.RequiredBytes = math.MaxInt64 },
			codes.OutOfRange),
		create("above its limit", func(q *csi.CreateVolumeRequest) { q.CapacityRange.LimitBytes = mib }, codes.OutOfRange),
		create("on a missing file system", func(q *csi.CreateVolumeRequest) { q.Parameters["fsName"] = "no-such-fs" },
			inv, codes.NotFound),
		create("on an unknown cluster", func(q *csi.CreateVolumeRequest) { q.Parameters["clusterID"] = "not-configured" }, inv),
		create("in a pool that is no data pool", func(q *csi.CreateVolumeRequest) { q.Parameters["pool"] = "rbd" }, inv),
		create("with an unknown mounter", func(q *csi.CreateVolumeRequest) { q.Parameters["mounter"] = "evil" }, inv),
		create("with a name prefix that climbs", func(q *csi.CreateVolumeRequest) { q.Parameters["volumeNamePrefix"] = "../x" }, inv),
		create("shallow without a snapshot", func(q *csi.CreateVolumeRequest) {
			q.Parameters["backingSnapshot"] = "true"
			q.VolumeCapabilities = []*csi.VolumeCapability{mountCap(csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY)}
		}, inv),
		create("with a non-boolean backingSnapshot", func(q *csi.CreateVolumeRequest) { q.Parameters["backingSnapshot"] = "maybe" }, inv),
		create("without secrets", func(q *csi.CreateVolumeRequest) { q.Secrets = nil }, inv),
		create("with node secrets only", func(q *csi.CreateVolumeRequest) { q.Secrets = e.nodeSecrets() }, inv),
		create("with a key injecting a keyring section", func(q *csi.CreateVolumeRequest) {
			q.Secrets = e.secretsWith(credentials.AdminKeyField, e.cluster.AdminKey+"\n[client.x]\n\tkey = "+e.cluster.AdminKey)
		}, inv),
		create("with a wrong key", func(q *csi.CreateVolumeRequest) {
			q.Secrets = e.secretsWith(credentials.AdminKeyField, csifuzz.WrongKey)
		}, codes.PermissionDenied, codes.Unauthenticated, codes.Unavailable),
		create("for block access", func(q *csi.CreateVolumeRequest) {
			q.VolumeCapabilities = []*csi.VolumeCapability{{
				AccessType: &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}},
				AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER}}}
		}, inv),
		create("without capabilities", func(q *csi.CreateVolumeRequest) { q.VolumeCapabilities = nil }, inv),
		create("with an undefined access mode", func(q *csi.CreateVolumeRequest) {
			q.VolumeCapabilities[0].AccessMode.Mode = 99
		}, inv),
		create("from a snapshot that does not exist", func(q *csi.CreateVolumeRequest) {
			q.VolumeContentSource = snapshotSource(unknownSnap)
		}, codes.NotFound),
		create("from a malformed volume ID", func(q *csi.CreateVolumeRequest) {
			q.VolumeContentSource = volumeSource("not-a-volume-id")
		}, codes.NotFound),
		create("from a snapshot of another cluster", func(q *csi.CreateVolumeRequest) {
			q.VolumeContentSource = snapshotSource(otherCluster)
		}, inv, codes.NotFound),
		create("from a volume ID given as a snapshot", func(q *csi.CreateVolumeRequest) {
			q.VolumeContentSource = snapshotSource(volID)
		}, codes.NotFound),
		create("from a source larger than its limit", func(q *csi.CreateVolumeRequest) {
			q.VolumeContentSource = volumeSource(volID)
			q.CapacityRange = &csi.CapacityRange{LimitBytes: 32 * mib}
		}, codes.OutOfRange),
		create("of the existing name, another size", func(q *csi.CreateVolumeRequest) {
			q.Name = "abuse"
			q.CapacityRange.RequiredBytes = 128 * mib
		}, codes.AlreadyExists),
	}
}

func (e *env) idAbuses(volID, snapID string) []abuse {
	c, good := e.ctrl, e.adminSecrets()
	otherCluster := reencode(e.t, volID, func(id *volid.ID) { id.ClusterID = "not-configured" })
	unknownFS := reencode(e.t, volID, func(id *volid.ID) { id.LocationID = 1 << 40 })
	call := func(name string, fn func(ctx context.Context) (proto.Message, error), want ...codes.Code) abuse {
		return abuse{name: name, call: fn, codes: want}
	}
	return []abuse{
		call("DeleteVolume of a malformed ID", func(ctx context.Context) (proto.Message, error) {
			return c.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: "../../" + volID, Secrets: good})
		}),
		call("DeleteVolume of an unknown file system", func(ctx context.Context) (proto.Message, error) {
			return c.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: unknownFS, Secrets: good})
		}),
		call("DeleteVolume of an unconfigured cluster", func(ctx context.Context) (proto.Message, error) {
			return c.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: otherCluster, Secrets: good})
		}, codes.InvalidArgument, codes.NotFound),
		call("DeleteVolume without secrets", func(ctx context.Context) (proto.Message, error) {
			return c.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: volID})
		}, codes.InvalidArgument),
		call("DeleteSnapshot of a volume ID", func(ctx context.Context) (proto.Message, error) {
			return c.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: volID, Secrets: good})
		}),
		call("CreateSnapshot of a snapshot ID", func(ctx context.Context) (proto.Message, error) {
			return c.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "abused-snap", SourceVolumeId: snapID, Secrets: good})
		}, codes.NotFound),
		call("CreateSnapshot on another cluster", func(ctx context.Context) (proto.Message, error) {
			return c.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "abused-snap", SourceVolumeId: volID, Secrets: good,
				Parameters: map[string]string{"clusterID": "not-configured"}})
		}, codes.InvalidArgument),
		call("CreateSnapshot with an unknown parameter", func(ctx context.Context) (proto.Message, error) {
			return c.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "abused-snap", SourceVolumeId: volID, Secrets: good,
				Parameters: map[string]string{"pool": "x"}})
		}, codes.InvalidArgument),
		call("CreateSnapshot of the existing name, another volume", func(ctx context.Context) (proto.Message, error) {
			return c.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "abuse-snap", SourceVolumeId: unknownFS, Secrets: good})
		}, codes.NotFound, codes.AlreadyExists),
		call("ControllerExpandVolume to MaxInt64", func(ctx context.Context) (proto.Message, error) {
			return c.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: volID, Secrets: good,
				CapacityRange: &csi.CapacityRange{RequiredBytes: math.MaxInt64}})
		}, codes.OutOfRange),
		call("ControllerExpandVolume below the size", func(ctx context.Context) (proto.Message, error) {
			return c.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: volID, Secrets: good,
				CapacityRange: &csi.CapacityRange{RequiredBytes: mib, LimitBytes: 2 * mib}})
		}, codes.OutOfRange),
		call("ControllerExpandVolume of an unknown volume", func(ctx context.Context) (proto.Message, error) {
			return c.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: unknownFS, Secrets: good,
				CapacityRange: &csi.CapacityRange{RequiredBytes: 128 * mib}})
		}, codes.NotFound),
		call("ValidateVolumeCapabilities of a snapshot ID", func(ctx context.Context) (proto.Message, error) {
			return c.ValidateVolumeCapabilities(ctx, &csi.ValidateVolumeCapabilitiesRequest{VolumeId: snapID, Secrets: good,
				VolumeCapabilities: []*csi.VolumeCapability{rwx}})
		}, codes.NotFound),
		call("ListSnapshots from a bogus token", func(ctx context.Context) (proto.Message, error) {
			return c.ListSnapshots(ctx, &csi.ListSnapshotsRequest{StartingToken: "bogus", Secrets: good})
		}, codes.Aborted),
		call("ListSnapshots of a negative page", func(ctx context.Context) (proto.Message, error) {
			return c.ListSnapshots(ctx, &csi.ListSnapshotsRequest{MaxEntries: -1, Secrets: good})
		}, codes.InvalidArgument),
		call("GetCapacity without driver credentials", func(ctx context.Context) (proto.Message, error) {
			return c.GetCapacity(ctx, &csi.GetCapacityRequest{Parameters: e.params()})
		}, codes.Unimplemented),
		call("ControllerPublishVolume", func(ctx context.Context) (proto.Message, error) {
			return c.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: volID, NodeId: "n", Secrets: good})
		}, codes.Unimplemented),
	}
}

// nodeAbuses are node requests refused before anything is mounted.
func (e *env) nodeAbuses(vol *csi.Volume) []abuse {
	n := e.node
	stage := func(name string, change func(*csi.NodeStageVolumeRequest), want ...codes.Code) abuse {
		return abuse{name: "NodeStageVolume " + name, codes: want, call: func(ctx context.Context) (proto.Message, error) {
			req := &csi.NodeStageVolumeRequest{VolumeId: vol.GetVolumeId(), StagingTargetPath: e.path("abused-staging"),
				VolumeCapability: rwx, VolumeContext: vol.GetVolumeContext(), Secrets: e.nodeSecrets()}
			change(req)
			return n.NodeStageVolume(ctx, req)
		}}
	}
	inv := codes.InvalidArgument
	return []abuse{
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
		{name: "NodePublishVolume of an unstaged volume", codes: []codes.Code{codes.FailedPrecondition},
			call: func(ctx context.Context) (proto.Message, error) {
				return n.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: vol.GetVolumeId(),
					StagingTargetPath: e.path("abused-staging"), TargetPath: e.path("abused-target"), VolumeCapability: rwx})
			}},
		{name: "NodeUnpublishVolume at a path with a NUL byte", codes: []codes.Code{inv},
			call: func(ctx context.Context) (proto.Message, error) {
				return n.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: vol.GetVolumeId(),
					TargetPath: e.path("abused-target\x00")})
			}},
	}
}

// reencode returns id changed by change.
func reencode(t *testing.T, id string, change func(*volid.ID)) string {
	t.Helper()
	v, err := volid.Decode(id)
	if err != nil {
		t.Fatal(err)
	}
	change(&v)
	s, err := v.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return s
}
