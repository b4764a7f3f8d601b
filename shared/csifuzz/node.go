package csifuzz

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
)

// Node is one case of a Node fuzz target: a server in a directory of its
// own (see Dir; the target also makes it the working directory, where
// relative paths land) with the volume NodeTarget.Objects.Volume staged.
type Node struct {
	Server csi.NodeServer
	// Dir is the case's directory: every path a request names is inside
	// it, and everything under it is part of the state.
	Dir string
	// Staging is the staging path of the staged volume.
	Staging string
	// Inventory describes the rest of the state (commands run, mounts,
	// attachments); with the files under Dir, a rejected request must
	// leave it as it was.
	Inventory func() string
}

// NodeTarget is what the Node fuzz target of one driver differs in.
type NodeTarget struct {
	// New builds one case.
	New func(t *testing.T) *Node
	// Creds are valid secrets of the driver.
	Creds Credentials
	// Objects are the staged volume (Volume) and one that is not staged
	// (Snapshot).
	Objects Objects
	// VolumeContext is a valid volume context of the staged volume.
	VolumeContext map[string]string
	// Extra are the codes an RPC may answer beyond Allowed, by method.
	Extra map[string][]codes.Code
}

// nodeCase is what a row of nodeRPCs calls.
type nodeCase struct {
	*NodeTarget
	*Node
}

// staging is the first path of a request (see Input.Path).
func (c nodeCase) staging(in Input) string { return in.Path(false, c.Dir, c.Staging) }

// target is the second path of a request (see Input.Path).
func (c nodeCase) target(in Input) string {
	return in.Path(true, c.Dir, filepath.Join(c.Dir, "target"))
}

// state describes every file under the case's directory and the rest of
// its Inventory.
func (c nodeCase) state() string { return "files:\n" + Tree(c.Dir) + c.Inventory() }

// outcome is how the target judges the case: no check of a successful
// response beyond Check's.
func (c nodeCase) outcome() outcome { return outcome{extra: c.Extra, inventory: c.state} }

// FuzzNode is the body of a driver's Node abuse fuzz target: it seeds f
// with every variant for every Node RPC and checks each case with run.
func FuzzNode(f *testing.F, target NodeTarget) {
	Fuzz(f, Seeds(uint8(len(nodeRPCs))), func(t *testing.T, in Input) {
		c := nodeCase{&target, target.New(t)}
		run(t, nodeRPCs, c, c.outcome(), in)
	})
}

// nodeRPCs are the Node RPCs the target calls. Their order is the meaning
// of Input.RPC in the seed corpora: append, never reorder.
var nodeRPCs = []row[nodeCase]{
	{"NodeStageVolume", func(ctx context.Context, c nodeCase, in Input) (proto.Message, error) {
		return c.Server.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: in.ObjectID(c.Objects),
			StagingTargetPath: c.staging(in), VolumeCapability: in.Capability(), Secrets: in.Secrets(c.Creds),
			VolumeContext: in.Parameters(c.VolumeContext)})
	}},
	{"NodeUnstageVolume", func(ctx context.Context, c nodeCase, in Input) (proto.Message, error) {
		return c.Server.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: in.ObjectID(c.Objects),
			StagingTargetPath: c.staging(in)})
	}},
	{"NodePublishVolume", func(ctx context.Context, c nodeCase, in Input) (proto.Message, error) {
		return c.Server.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: in.ObjectID(c.Objects),
			StagingTargetPath: c.staging(in), TargetPath: c.target(in), VolumeCapability: in.Capability(),
			Readonly: in.Has(FlagReadonly), Secrets: in.Secrets(c.Creds), VolumeContext: in.Parameters(c.VolumeContext)})
	}},
	{"NodeUnpublishVolume", func(ctx context.Context, c nodeCase, in Input) (proto.Message, error) {
		return c.Server.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: in.ObjectID(c.Objects),
			TargetPath: c.target(in)})
	}},
	{"NodeGetVolumeStats", func(ctx context.Context, c nodeCase, in Input) (proto.Message, error) {
		return c.Server.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: in.ObjectID(c.Objects),
			VolumePath: c.staging(in), StagingTargetPath: c.target(in)})
	}},
	{"NodeExpandVolume", func(ctx context.Context, c nodeCase, in Input) (proto.Message, error) {
		return c.Server.NodeExpandVolume(ctx, &csi.NodeExpandVolumeRequest{VolumeId: in.ObjectID(c.Objects),
			VolumePath: c.staging(in), StagingTargetPath: c.target(in), CapacityRange: in.Range(),
			VolumeCapability: in.Capability(), Secrets: in.Secrets(c.Creds)})
	}},
	{"NodeGetVolumeHealth", func(ctx context.Context, c nodeCase, in Input) (proto.Message, error) {
		return c.Server.NodeGetVolumeHealth(ctx, &csi.NodeGetVolumeHealthRequest{VolumeId: in.ObjectID(c.Objects),
			StagingTargetPath: c.staging(in), VolumePublishPath: c.target(in)})
	}},
}
