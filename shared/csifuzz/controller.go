package csifuzz

import (
	"context"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
)

// Controller is one case of a Controller fuzz target: a server over fresh
// fakes that hold one volume and one snapshot of it.
type Controller struct {
	Server csi.ControllerServer
	// Objects are the IDs of the volume and the snapshot.
	Objects Objects
	// Inventory describes everything the fakes hold (objects, sizes,
	// journal); a rejected request must leave it as it was.
	Inventory func() string
}

// ControllerTarget is what the Controller fuzz target of one driver
// differs in.
type ControllerTarget struct {
	// New builds one case.
	New func(t *testing.T) *Controller
	// Creds are valid secrets of the driver.
	Creds Credentials
	// VolumeParams are valid parameters of CreateVolume (also used for
	// ValidateVolumeCapabilities, GetCapacity and, with
	// FlagVolumeContext, as the volume context); SnapshotParams of
	// CreateSnapshot.
	VolumeParams, SnapshotParams map[string]string
	// Extra are the codes an RPC may answer beyond Allowed, by method
	// (e.g. Unimplemented for an RPC the driver does not serve).
	Extra map[string][]codes.Code
	// Capacity is the rule a returned capacity_bytes must follow.
	Capacity CapacityRule
}

// controllerCase is what a row of controllerRPCs calls.
type controllerCase struct {
	*ControllerTarget
	*Controller
}

func (c controllerCase) volumeContext(in Input) map[string]string {
	if !in.Has(FlagVolumeContext) {
		return nil
	}
	return in.Parameters(c.VolumeParams)
}

// FuzzController is the body of a driver's Controller abuse fuzz target:
// it seeds f with every variant for every Controller RPC and checks each
// case with run, a successful response with CheckCreated.
func FuzzController(f *testing.F, target ControllerTarget) {
	Fuzz(f, Seeds(uint8(len(controllerRPCs))), func(t *testing.T, in Input) {
		c := target.New(t)
		run(t, controllerRPCs, controllerCase{&target, c}, target.outcome(c), in)
	})
}

// outcome is how the target judges a case of c.
func (target *ControllerTarget) outcome(c *Controller) outcome {
	accept := func(t testing.TB, _ string, in Input, resp proto.Message) {
		t.Helper()
		if err := CheckCreated(resp, in.Range(), target.Capacity); err != nil {
			t.Fatalf("%v\ninput: %+v", err, in)
		}
	}
	return outcome{extra: target.Extra, inventory: c.Inventory, accept: accept}
}

// controllerRPCs are the Controller RPCs the target calls. Their order is
// the meaning of Input.RPC in the seed corpora: append, never reorder.
var controllerRPCs = []row[controllerCase]{
	{"CreateVolume", func(ctx context.Context, c controllerCase, in Input) (proto.Message, error) {
		return c.Server.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: in.Name, CapacityRange: in.Range(),
			VolumeCapabilities: in.Capabilities(), Parameters: in.Parameters(c.VolumeParams),
			Secrets: in.Secrets(c.Creds), VolumeContentSource: in.Source(in.ObjectID(c.Objects))})
	}},
	{"DeleteVolume", func(ctx context.Context, c controllerCase, in Input) (proto.Message, error) {
		return c.Server.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: in.ObjectID(c.Objects),
			Secrets: in.Secrets(c.Creds)})
	}},
	{"CreateSnapshot", func(ctx context.Context, c controllerCase, in Input) (proto.Message, error) {
		return c.Server.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: in.Name, SourceVolumeId: in.ObjectID(c.Objects),
			Parameters: in.Parameters(c.SnapshotParams), Secrets: in.Secrets(c.Creds)})
	}},
	{"DeleteSnapshot", func(ctx context.Context, c controllerCase, in Input) (proto.Message, error) {
		return c.Server.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: in.ObjectID(c.Objects.Swap()),
			Secrets: in.Secrets(c.Creds)})
	}},
	{"ControllerExpandVolume", func(ctx context.Context, c controllerCase, in Input) (proto.Message, error) {
		return c.Server.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: in.ObjectID(c.Objects),
			CapacityRange: in.Range(), Secrets: in.Secrets(c.Creds), VolumeCapability: in.Capability()})
	}},
	{"ValidateVolumeCapabilities", func(ctx context.Context, c controllerCase, in Input) (proto.Message, error) {
		return c.Server.ValidateVolumeCapabilities(ctx, &csi.ValidateVolumeCapabilitiesRequest{
			VolumeId: in.ObjectID(c.Objects), VolumeContext: c.volumeContext(in), VolumeCapabilities: in.Capabilities(),
			Parameters: in.Parameters(c.VolumeParams), Secrets: in.Secrets(c.Creds)})
	}},
	{"ListSnapshots", listSnapshots},
	{"ListVolumes", func(ctx context.Context, c controllerCase, in Input) (proto.Message, error) {
		req := &csi.ListVolumesRequest{MaxEntries: int32(in.Required)}
		if in.Has(FlagReadonly) {
			req.StartingToken = in.Name
		}
		return c.Server.ListVolumes(ctx, req)
	}},
	{"ControllerListVolumeHealth", func(ctx context.Context, c controllerCase, in Input) (proto.Message, error) {
		req := &csi.ControllerListVolumeHealthRequest{MaxEntries: int32(in.Required), Secrets: in.Secrets(c.Creds)}
		if in.Has(FlagReadonly) {
			req.StartingToken = in.Name
		}
		return c.Server.ControllerListVolumeHealth(ctx, req)
	}},
	{"ControllerGetVolume", func(ctx context.Context, c controllerCase, in Input) (proto.Message, error) {
		return c.Server.ControllerGetVolume(ctx, &csi.ControllerGetVolumeRequest{VolumeId: in.ObjectID(c.Objects)})
	}},
	{"ControllerGetVolumeHealth", func(ctx context.Context, c controllerCase, in Input) (proto.Message, error) {
		return c.Server.ControllerGetVolumeHealth(ctx, &csi.ControllerGetVolumeHealthRequest{
			VolumeId: in.ObjectID(c.Objects), Secrets: in.Secrets(c.Creds)})
	}},
	{"GetSnapshot", func(ctx context.Context, c controllerCase, in Input) (proto.Message, error) {
		return c.Server.GetSnapshot(ctx, &csi.GetSnapshotRequest{SnapshotId: in.ObjectID(c.Objects.Swap()),
			Secrets: in.Secrets(c.Creds)})
	}},
	{"GetCapacity", func(ctx context.Context, c controllerCase, in Input) (proto.Message, error) {
		return c.Server.GetCapacity(ctx, &csi.GetCapacityRequest{VolumeCapabilities: in.Capabilities(),
			Parameters: in.Parameters(c.VolumeParams)})
	}},
	{"ControllerPublishVolume", func(ctx context.Context, c controllerCase, in Input) (proto.Message, error) {
		return c.Server.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: in.ObjectID(c.Objects),
			NodeId: in.Name, VolumeCapability: in.Capability(), Readonly: in.Has(FlagReadonly),
			Secrets: in.Secrets(c.Creds), VolumeContext: c.volumeContext(in)})
	}},
	{"ControllerUnpublishVolume", func(ctx context.Context, c controllerCase, in Input) (proto.Message, error) {
		return c.Server.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{
			VolumeId: in.ObjectID(c.Objects), NodeId: in.Name, Secrets: in.Secrets(c.Creds)})
	}},
}

// listSnapshots lists with the starting token (FlagReadonly), snapshot
// (FlagFilterSnapshot) and source volume (FlagFilterSource) filters the
// flags set, and the Required size as max_entries.
func listSnapshots(ctx context.Context, c controllerCase, in Input) (proto.Message, error) {
	req := &csi.ListSnapshotsRequest{MaxEntries: int32(in.Required), Secrets: in.Secrets(c.Creds)}
	if in.Has(FlagReadonly) {
		req.StartingToken = in.Name
	}
	if in.Has(FlagFilterSnapshot) {
		req.SnapshotId = in.ObjectID(c.Objects.Swap())
	}
	if in.Has(FlagFilterSource) {
		req.SourceVolumeId = in.ObjectID(c.Objects)
	}
	return c.Server.ListSnapshots(ctx, req)
}
