package csiabuse

import (
	"context"
	"maps"
	"math"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/seed-6a310834/ceph-csi/shared/csifuzz"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

const mib = int64(1) << 20

// Controller is a driver's controller on the real cluster holding one
// volume and one snapshot of it, and what the requests both drivers must
// refuse need to know of it.
type Controller struct {
	T      testing.TB
	Client csi.ControllerClient
	// NewVolume returns a valid request for a 64 MiB volume that does not
	// exist yet, with fresh maps each call.
	NewVolume func() *csi.CreateVolumeRequest
	// Secrets are good provisioner secrets; KeyField is their key's field.
	Secrets  map[string]string
	KeyField string
	// VolumeName and VolumeID are the existing volume's request name and
	// ID; SnapshotName and SnapshotID the existing snapshot's.
	VolumeName, VolumeID     string
	SnapshotName, SnapshotID string
	// NewSnapshotName is a snapshot request name not taken yet.
	NewSnapshotName string
	// Location is what a volume ID's location names ("pool", "file system").
	Location string
	// Capabilities are capabilities the volume supports.
	Capabilities []*csi.VolumeCapability
	// Parameters are valid StorageClass parameters (for GetCapacity).
	Parameters map[string]string
}

// SecretsWith returns the good secrets with field set to value, or
// deleted when value is "-".
func (c *Controller) SecretsWith(field, value string) map[string]string {
	s := maps.Clone(c.Secrets)
	if value == "-" {
		delete(s, field)
	} else {
		s[field] = value
	}
	return s
}

// Create is an abuse named "CreateVolume "+name: NewVolume's request
// changed by change.
func (c *Controller) Create(name string, change func(*csi.CreateVolumeRequest), want ...codes.Code) Abuse {
	return Abuse{Name: "CreateVolume " + name, Codes: want, Call: func(ctx context.Context) (proto.Message, error) {
		req := c.NewVolume()
		change(req)
		return c.Client.CreateVolume(ctx, req)
	}}
}

// Call is an abuse of any request.
func Call(name string, fn func(ctx context.Context) (proto.Message, error), want ...codes.Code) Abuse {
	return Abuse{Name: name, Call: fn, Codes: want}
}

// Delete is an abuse named "DeleteVolume "+name: deleting volume id with
// the good secrets.
func (c *Controller) Delete(name, id string, want ...codes.Code) Abuse {
	return Call("DeleteVolume "+name, func(ctx context.Context) (proto.Message, error) {
		return c.Client.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: id, Secrets: c.Secrets})
	}, want...)
}

// Snapshot is an abuse named "CreateSnapshot "+name: snapshot
// NewSnapshotName of the volume with parameters.
func (c *Controller) Snapshot(name string, parameters map[string]string, want ...codes.Code) Abuse {
	return Call("CreateSnapshot "+name, func(ctx context.Context) (proto.Message, error) {
		return c.Client.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: c.NewSnapshotName, SourceVolumeId: c.VolumeID,
			Secrets: c.Secrets, Parameters: parameters})
	}, want...)
}

// CreateAbuses are the CreateVolume requests both drivers refuse.
func (c *Controller) CreateAbuses() []Abuse {
	inv := codes.InvalidArgument
	unknownSnap := Reencode(c.T, c.SnapshotID, func(id *volid.ID) { id.UUID = "00000000-0000-4000-8000-000000000000" })
	return []Abuse{
		c.Create("without a name", func(q *csi.CreateVolumeRequest) { q.Name = "" }, inv),
		c.Create("with a 1400-byte name of odd UTF-8 and an unknown parameter", func(q *csi.CreateVolumeRequest) {
			q.Name = strings.Repeat("\u202e名\x00", 200)
			q.Parameters["unknownParameter"] = "1"
		}, inv),
		c.Create("of negative size", func(q *csi.CreateVolumeRequest) { q.CapacityRange.RequiredBytes = -1 }, inv),
		c.Create("of negative limit", func(q *csi.CreateVolumeRequest) { q.CapacityRange.LimitBytes = math.MinInt64 }, inv),
		c.Create("of MaxInt64 bytes", func(q *csi.CreateVolumeRequest) { q.CapacityRange.RequiredBytes = math.MaxInt64 },
			codes.OutOfRange),
		c.Create("on an unknown cluster", func(q *csi.CreateVolumeRequest) { q.Parameters["clusterID"] = "not-configured" }, inv),
		c.Create("with an unknown mounter", func(q *csi.CreateVolumeRequest) { q.Parameters["mounter"] = "evil" }, inv),
		c.Create("without secrets", func(q *csi.CreateVolumeRequest) { q.Secrets = nil }, inv),
		c.Create("with a key injecting a keyring section", func(q *csi.CreateVolumeRequest) {
			key := c.Secrets[c.KeyField]
			q.Secrets = c.SecretsWith(c.KeyField, key+"\n[client.x]\n\tkey = "+key)
		}, inv),
		c.Create("with a wrong key", func(q *csi.CreateVolumeRequest) { q.Secrets = c.SecretsWith(c.KeyField, csifuzz.WrongKey) },
			AuthCodes...),
		c.Create("without capabilities", func(q *csi.CreateVolumeRequest) { q.VolumeCapabilities = nil }, inv),
		c.Create("with an undefined access mode", func(q *csi.CreateVolumeRequest) {
			q.VolumeCapabilities[0].AccessMode.Mode = 99
		}, inv),
		c.Create("from a snapshot that does not exist", func(q *csi.CreateVolumeRequest) {
			q.VolumeContentSource = snapshotSource(unknownSnap)
		}, codes.NotFound),
		c.Create("from a malformed volume ID", func(q *csi.CreateVolumeRequest) {
			q.VolumeContentSource = volumeSource("not-a-volume-id")
		}, codes.NotFound),
		c.Create("from a volume ID given as a snapshot", func(q *csi.CreateVolumeRequest) {
			q.VolumeContentSource = snapshotSource(c.VolumeID)
		}, codes.NotFound),
		c.Create("from a source larger than its limit", func(q *csi.CreateVolumeRequest) {
			q.VolumeContentSource = volumeSource(c.VolumeID)
			q.CapacityRange = &csi.CapacityRange{LimitBytes: 32 * mib}
		}, codes.OutOfRange),
		c.Create("of the existing name, another size", func(q *csi.CreateVolumeRequest) {
			q.Name = c.VolumeName
			q.CapacityRange.RequiredBytes = 128 * mib
		}, codes.AlreadyExists),
	}
}

// IDAbuses are the requests on volume and snapshot IDs both drivers
// refuse, or accept as deleting what cannot exist.
func (c *Controller) IDAbuses() []Abuse {
	cl, good, volID, snapID := c.Client, c.Secrets, c.VolumeID, c.SnapshotID
	unknown := Reencode(c.T, volID, func(id *volid.ID) { id.LocationID = 1 << 40 })
	return []Abuse{
		c.Delete("of a malformed ID", "../../"+volID),
		c.Delete("of an unknown "+c.Location, unknown),
		Call("DeleteVolume without secrets", func(ctx context.Context) (proto.Message, error) {
			return cl.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: volID})
		}, codes.InvalidArgument),
		Call("DeleteSnapshot of a volume ID", func(ctx context.Context) (proto.Message, error) {
			return cl.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: volID, Secrets: good})
		}),
		Call("CreateSnapshot of a snapshot ID", func(ctx context.Context) (proto.Message, error) {
			return cl.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: c.NewSnapshotName, SourceVolumeId: snapID, Secrets: good})
		}, codes.NotFound),
		Call("CreateSnapshot of the existing name, another volume", func(ctx context.Context) (proto.Message, error) {
			return cl.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: c.SnapshotName, SourceVolumeId: unknown, Secrets: good})
		}, codes.NotFound, codes.AlreadyExists),
		Call("ControllerExpandVolume to MaxInt64", func(ctx context.Context) (proto.Message, error) {
			return cl.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: volID, Secrets: good,
				CapacityRange: &csi.CapacityRange{RequiredBytes: math.MaxInt64}})
		}, codes.OutOfRange),
		Call("ControllerExpandVolume below the size", func(ctx context.Context) (proto.Message, error) {
			return cl.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: volID, Secrets: good,
				CapacityRange: &csi.CapacityRange{RequiredBytes: mib, LimitBytes: 2 * mib}})
		}, codes.OutOfRange),
		Call("ControllerExpandVolume of an unknown volume", func(ctx context.Context) (proto.Message, error) {
			return cl.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: unknown, Secrets: good,
				CapacityRange: &csi.CapacityRange{RequiredBytes: 128 * mib}})
		}, codes.NotFound),
		Call("ValidateVolumeCapabilities of a snapshot ID", func(ctx context.Context) (proto.Message, error) {
			return cl.ValidateVolumeCapabilities(ctx, &csi.ValidateVolumeCapabilitiesRequest{VolumeId: snapID, Secrets: good,
				VolumeCapabilities: c.Capabilities})
		}, codes.NotFound),
		Call("ListSnapshots from a bogus token", func(ctx context.Context) (proto.Message, error) {
			return cl.ListSnapshots(ctx, &csi.ListSnapshotsRequest{StartingToken: "bogus", Secrets: good})
		}, codes.Aborted),
		Call("ListSnapshots of a negative page", func(ctx context.Context) (proto.Message, error) {
			return cl.ListSnapshots(ctx, &csi.ListSnapshotsRequest{MaxEntries: -1, Secrets: good})
		}, codes.InvalidArgument),
		Call("GetCapacity without driver credentials", func(ctx context.Context) (proto.Message, error) {
			return cl.GetCapacity(ctx, &csi.GetCapacityRequest{Parameters: c.Parameters})
		}, codes.Unimplemented),
		Call("ControllerPublishVolume", func(ctx context.Context) (proto.Message, error) {
			return cl.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: volID, NodeId: "n", Secrets: good})
		}, codes.Unimplemented),
	}
}
