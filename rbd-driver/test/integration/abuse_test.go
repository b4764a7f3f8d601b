package integration

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/seed-6a310834/ceph-csi/shared/csifuzz"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// abuse is one abusive request against the real cluster: the call and the
// codes it may end with (none: it must succeed, as deleting what cannot
// exist does).
type abuse struct {
	name  string
	call  func(ctx context.Context) (proto.Message, error)
	codes []codes.Code
}

// authCodes are what a request with credentials Ceph refuses may end with.
// Such a request waits for the connect timeout (librados retries the
// authentication), so the table has just one.
var authCodes = []codes.Code{codes.PermissionDenied, codes.Unauthenticated, codes.Unavailable}

// TestAbuseCreatesNothing sends a few dozen abusive requests to a
// controller on the real cluster and checks each one's code and that the
// pool (images, trash, mgr tasks, journal objects and keys) and the
// existing volume's snapshots are exactly as before it.
func TestAbuseCreatesNothing(t *testing.T) {
	r := newRig(t, 4, 8)
	vol := r.create(r.ctrl, r.volReq("pvc-abuse", 64*mib))
	snap := r.snapshot("snap-abuse", vol.GetVolumeId())
	for _, a := range r.abuses(vol.GetVolumeId(), snap.GetSnapshotId()) {
		before := r.state(vol)
		resp, err := a.call(ctx(t))
		switch st, _ := status.FromError(err); {
		case len(a.codes) == 0 && err != nil:
			t.Errorf("%s: %v, want success", a.name, err)
		case len(a.codes) > 0 && !slices.Contains(a.codes, st.Code()):
			t.Errorf("%s: %v (%v), want one of %v", a.name, st.Code(), err, a.codes)
		case strings.Contains(st.Message(), r.cl.AdminKey):
			t.Errorf("%s: the error message holds the key", a.name)
		case err == nil && len(a.codes) > 0:
			t.Errorf("%s succeeded (%v), want one of %v", a.name, resp, a.codes)
		}
		if after := r.state(vol); after != before {
			t.Errorf("%s changed the cluster:\nbefore: %s\nafter:  %s", a.name, before, after)
		}
	}
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

func (r *rig) abuses(volID, snapID string) []abuse {
	return slices.Concat(r.createAbuses(volID, snapID), r.idAbuses(volID, snapID))
}

// secretsWith returns the rig's secrets with one field changed (deleted
// when value is "-").
func (r *rig) secretsWith(field, value string) map[string]string {
	s := map[string]string{"userID": r.cl.AdminID, "userKey": r.cl.AdminKey}
	if value == "-" {
		delete(s, field)
	} else {
		s[field] = value
	}
	return s
}

func (r *rig) createAbuses(volID, snapID string) []abuse {
	create := func(name string, change func(*csi.CreateVolumeRequest), want ...codes.Code) abuse {
		return abuse{name: "CreateVolume " + name, codes: want, call: func(ctx context.Context) (proto.Message, error) {
			req := r.volReq("pvc-abused", 64*mib)
			change(req)
			return r.ctrl.CreateVolume(ctx, req)
		}}
	}
	inv := codes.InvalidArgument
	otherCluster := reencode(r.t, snapID, func(id *volid.ID) { id.ClusterID = "not-configured" })
	unknownSnap := reencode(r.t, snapID, func(id *volid.ID) { id.UUID = "00000000-0000-4000-8000-000000000000" })
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
		create("above its limit", func(q *csi.CreateVolumeRequest) { q.CapacityRange.LimitBytes = mib }, inv),
		create("within a limit below one MiB", func(q *csi.CreateVolumeRequest) {
			q.CapacityRange = &csi.CapacityRange{LimitBytes: mib - 1}
		}, codes.OutOfRange),
		create("in a missing pool", func(q *csi.CreateVolumeRequest) { q.Parameters["pool"] = "no-such-pool" }, inv),
		create("with a pool name that breaks image specs", func(q *csi.CreateVolumeRequest) { q.Parameters["pool"] = "a/b@c" }, inv),
		create("with a missing data pool", func(q *csi.CreateVolumeRequest) { q.Parameters["dataPool"] = "no-such-pool" }, inv),
		create("on an unknown cluster", func(q *csi.CreateVolumeRequest) { q.Parameters["clusterID"] = "not-configured" }, inv),
		create("with an unknown feature", func(q *csi.CreateVolumeRequest) { q.Parameters["imageFeatures"] = "layering,turbo" }, inv),
		create("encrypted", func(q *csi.CreateVolumeRequest) { q.Parameters["encrypted"] = "true" }, inv),
		create("with an unknown mounter", func(q *csi.CreateVolumeRequest) { q.Parameters["mounter"] = "evil" }, inv),
		create("without secrets", func(q *csi.CreateVolumeRequest) { q.Secrets = nil }, inv),
		create("without a key", func(q *csi.CreateVolumeRequest) { q.Secrets = r.secretsWith("userKey", "-") }, inv),
		create("with a key injecting a keyring section", func(q *csi.CreateVolumeRequest) {
			q.Secrets = r.secretsWith("userKey", r.cl.AdminKey+"\n[client.x]\n\tkey = "+r.cl.AdminKey)
		}, inv),
		create("with a wrong key", func(q *csi.CreateVolumeRequest) { q.Secrets = r.secretsWith("userKey", csifuzz.WrongKey) },
			authCodes...),
		create("without capabilities", func(q *csi.CreateVolumeRequest) { q.VolumeCapabilities = nil }, inv),
		create("multi-node writer on a filesystem", func(q *csi.CreateVolumeRequest) {
			q.VolumeCapabilities[0].AccessMode.Mode = csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER
		}, inv),
		create("with an undefined access mode", func(q *csi.CreateVolumeRequest) {
			q.VolumeCapabilities[0].AccessMode.Mode = 99
		}, inv),
		create("from a snapshot that does not exist", func(q *csi.CreateVolumeRequest) {
			q.VolumeContentSource = snapSource(unknownSnap)
		}, codes.NotFound),
		create("from a malformed volume ID", func(q *csi.CreateVolumeRequest) {
			q.VolumeContentSource = volSource("not-a-volume-id")
		}, codes.NotFound),
		create("from a snapshot of another cluster", func(q *csi.CreateVolumeRequest) {
			q.VolumeContentSource = snapSource(otherCluster)
		}, inv),
		create("from a volume ID given as a snapshot", func(q *csi.CreateVolumeRequest) {
			q.VolumeContentSource = snapSource(volID)
		}, codes.NotFound),
		create("from a source smaller than its limit", func(q *csi.CreateVolumeRequest) {
			q.VolumeContentSource = volSource(volID)
			q.CapacityRange = &csi.CapacityRange{LimitBytes: 32 * mib}
		}, codes.OutOfRange),
		create("of the existing name, another size", func(q *csi.CreateVolumeRequest) {
			q.Name = "pvc-abuse"
			q.CapacityRange.RequiredBytes = 128 * mib
		}, codes.AlreadyExists),
	}
}

func (r *rig) idAbuses(volID, snapID string) []abuse {
	c := r.ctrl
	good := r.secrets
	otherCluster := reencode(r.t, volID, func(id *volid.ID) { id.ClusterID = "not-configured" })
	unknownPool := reencode(r.t, volID, func(id *volid.ID) { id.LocationID = 1 << 40 })
	call := func(name string, fn func(ctx context.Context) (proto.Message, error), want ...codes.Code) abuse {
		return abuse{name: name, call: fn, codes: want}
	}
	return []abuse{
		call("DeleteVolume of a malformed ID", func(ctx context.Context) (proto.Message, error) {
			return c.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: "../../" + volID, Secrets: good})
		}),
		call("DeleteVolume of an unknown pool", func(ctx context.Context) (proto.Message, error) {
			return c.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: unknownPool, Secrets: good})
		}),
		call("DeleteVolume of an unconfigured cluster", func(ctx context.Context) (proto.Message, error) {
			return c.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: otherCluster, Secrets: good})
		}, codes.NotFound),
		call("DeleteVolume without secrets", func(ctx context.Context) (proto.Message, error) {
			return c.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: volID})
		}, codes.InvalidArgument),
		call("DeleteSnapshot of a volume ID", func(ctx context.Context) (proto.Message, error) {
			return c.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: volID, Secrets: good})
		}),
		call("CreateSnapshot of a snapshot ID", func(ctx context.Context) (proto.Message, error) {
			return c.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "snap-abused", SourceVolumeId: snapID, Secrets: good})
		}, codes.NotFound),
		call("CreateSnapshot into another pool", func(ctx context.Context) (proto.Message, error) {
			return c.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "snap-abused", SourceVolumeId: volID, Secrets: good,
				Parameters: map[string]string{"pool": "rbd"}})
		}, codes.InvalidArgument),
		call("CreateSnapshot with an unknown parameter", func(ctx context.Context) (proto.Message, error) {
			return c.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "snap-abused", SourceVolumeId: volID, Secrets: good,
				Parameters: map[string]string{"snapshotNamePrefix": "x"}})
		}, codes.InvalidArgument),
		call("CreateSnapshot of the existing name, another volume", func(ctx context.Context) (proto.Message, error) {
			return c.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "snap-abuse", SourceVolumeId: unknownPool, Secrets: good})
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
			return c.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: unknownPool, Secrets: good,
				CapacityRange: &csi.CapacityRange{RequiredBytes: 128 * mib}})
		}, codes.NotFound),
		call("ValidateVolumeCapabilities of a snapshot ID", func(ctx context.Context) (proto.Message, error) {
			return c.ValidateVolumeCapabilities(ctx, &csi.ValidateVolumeCapabilitiesRequest{VolumeId: snapID, Secrets: good,
				VolumeCapabilities: r.volReq("x", 0).GetVolumeCapabilities()})
		}, codes.NotFound),
		call("ListSnapshots from a bogus token", func(ctx context.Context) (proto.Message, error) {
			return c.ListSnapshots(ctx, &csi.ListSnapshotsRequest{StartingToken: "bogus", Secrets: good})
		}, codes.Aborted),
		call("ListSnapshots of a negative page", func(ctx context.Context) (proto.Message, error) {
			return c.ListSnapshots(ctx, &csi.ListSnapshotsRequest{MaxEntries: -1, Secrets: good})
		}, codes.InvalidArgument),
		call("GetCapacity without driver credentials", func(ctx context.Context) (proto.Message, error) {
			return c.GetCapacity(ctx, &csi.GetCapacityRequest{Parameters: map[string]string{"pool": r.pool}})
		}, codes.Unimplemented),
		call("ControllerPublishVolume", func(ctx context.Context) (proto.Message, error) {
			return c.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: volID, NodeId: "n", Secrets: good})
		}, codes.Unimplemented),
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
