package controller_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend/fake"
	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/controller"
	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
	"github.com/seed-6a310834/ceph-csi/shared/csifuzz"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// The abuse fuzz target of the Controller service: every handler gets
// requests built from fuzz inputs (shared/csifuzz) against the in-memory
// backend and journal. It must never panic, must answer only with codes the
// CSI spec allows for the RPC (never Unknown or Internal: the fake injects no
// failure), and a rejected request must leave the backend and the journal
// exactly as they were.

const (
	fuzzCluster = "cluster-1"
	fuzzOther   = "cluster-2" // configured too: cross-cluster sources
	fuzzKey     = "AQBZdAlrAAAAABAAvalidkeyvalidkeyvalid=="
)

var fuzzPools = []string{"rbd", "ec-data"}

// fuzzClusters is the cluster configuration of the target.
type fuzzClusters map[string]*clusterconfig.Cluster

func (c fuzzClusters) Get(id string) (*clusterconfig.Cluster, error) {
	if cl, ok := c[id]; ok {
		return cl, nil
	}
	return nil, fmt.Errorf("clusterID %q: %w", id, clusterconfig.ErrClusterNotFound)
}

func (c fuzzClusters) Clusters() ([]*clusterconfig.Cluster, error) {
	out := make([]*clusterconfig.Cluster, 0, len(c))
	for _, cl := range c {
		out = append(out, cl)
	}
	sort.Slice(out, func(i, k int) bool { return out[i].ClusterID < out[k].ClusterID })
	return out, nil
}

// ctrlWorld is one fuzz case's controller over a fresh fake holding one
// volume and one snapshot of it.
type ctrlWorld struct {
	be   *fake.Backend
	srv  *controller.Server
	objs csifuzz.Objects
}

var fuzzCreds = csifuzz.Credentials{IDField: "userID", KeyField: "userKey", ID: "admin", Key: fuzzKey}

func volumeParams() map[string]string {
	return map[string]string{"clusterID": fuzzCluster, "pool": "rbd"}
}

func newCtrlWorld(t *testing.T) *ctrlWorld {
	t.Helper()
	be := fake.New()
	be.AddCluster(fuzzCluster, 10<<30, fuzzPools...)
	be.AddCluster(fuzzOther, 10<<30, fuzzPools...)
	srv, err := controller.New(controller.Config{
		Backend: be,
		Clusters: fuzzClusters{
			fuzzCluster: {ClusterID: fuzzCluster, Monitors: []string{"127.0.0.1:6789"}},
			fuzzOther:   {ClusterID: fuzzOther, Monitors: []string{"127.0.0.2:6789"}},
		},
		CloneSoftDepth: 1,
		CloneHardDepth: 2,
		PurgeWorkers:   -1, // purge within the request: no background change
		WatcherWait:    -1,
		DefaultSecrets: func() (map[string]string, error) {
			return map[string]string{"userID": "admin", "userKey": fuzzKey}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	w := &ctrlWorld{be: be, srv: srv}
	ctx := context.Background()
	vol, err := srv.CreateVolume(ctx, &csi.CreateVolumeRequest{
		Name: "seed-volume", CapacityRange: &csi.CapacityRange{RequiredBytes: 1 << 30},
		VolumeCapabilities: csifuzz.Valid.Capabilities(), Parameters: volumeParams(),
		Secrets: csifuzz.Valid.Secrets(fuzzCreds),
	})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := srv.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "seed-snapshot",
		SourceVolumeId: vol.GetVolume().GetVolumeId(), Secrets: csifuzz.Valid.Secrets(fuzzCreds)})
	if err != nil {
		t.Fatal(err)
	}
	w.objs = csifuzz.Objects{Volume: vol.GetVolume().GetVolumeId(), Snapshot: snap.GetSnapshot().GetSnapshotId()}
	return w
}

// inventory describes everything the fake holds: images (size, features,
// depth, metadata), trash, snapshots, mgr tasks and every journal object
// with its omap.
func (w *ctrlWorld) inventory(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, cluster := range []string{fuzzCluster, fuzzOther} {
		for _, pool := range fuzzPools {
			c := w.be.Contents(cluster, pool)
			fmt.Fprintf(&b, "%s/%s: images %v trash %v snapshots %d\n", cluster, pool, c.Images, c.Trash, c.Snapshots)
			for _, img := range c.Images {
				ns, name, _ := strings.Cut(img, "/")
				ref := backend.ImageRef{PoolRef: backend.PoolRef{Pool: pool, Namespace: ns}, Name: name}
				info, _ := w.be.Image(cluster, ref)
				fmt.Fprintf(&b, "  %s %+v metadata %v\n", img, info, w.be.ImageMetadata(cluster, ref))
			}
			b.WriteString(w.journal(t, cluster, pool))
		}
	}
	fmt.Fprintf(&b, "tasks %v\n", w.be.PendingTasks())
	return b.String()
}

func (w *ctrlWorld) journal(t *testing.T, cluster, pool string) string {
	ctx := context.Background()
	sess, err := w.be.Connect(ctx, backend.Target{ClusterID: cluster})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Release()
	st, err := sess.ObjectStore(ctx, backend.PoolRef{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	names, _ := st.ListObjects(ctx, "")
	var b strings.Builder
	for _, n := range names {
		kv, _ := st.ListOmap(ctx, n, "")
		keys := make([]string, 0, len(kv))
		for k, v := range kv {
			keys = append(keys, k+"="+v)
		}
		sort.Strings(keys)
		fmt.Fprintf(&b, "  journal %s %v\n", n, keys)
	}
	return b.String()
}

// ctrlRPCs are the handlers the target calls, by Input.RPC modulo their
// number; extra are codes allowed beyond csifuzz.Allowed.
var ctrlRPCs = []struct {
	method string
	call   func(ctx context.Context, w *ctrlWorld, in csifuzz.Input) (proto.Message, error)
	extra  []codes.Code
}{
	{"CreateVolume", func(ctx context.Context, w *ctrlWorld, in csifuzz.Input) (proto.Message, error) {
		return w.srv.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: in.Name, CapacityRange: in.Range(),
			VolumeCapabilities: in.Capabilities(), Parameters: in.Parameters(volumeParams()),
			Secrets: in.Secrets(fuzzCreds), VolumeContentSource: in.Source(in.ObjectID(w.objs))})
	}, nil},
	{"DeleteVolume", func(ctx context.Context, w *ctrlWorld, in csifuzz.Input) (proto.Message, error) {
		return w.srv.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: in.ObjectID(w.objs), Secrets: in.Secrets(fuzzCreds)})
	}, nil},
	{"CreateSnapshot", func(ctx context.Context, w *ctrlWorld, in csifuzz.Input) (proto.Message, error) {
		return w.srv.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: in.Name, SourceVolumeId: in.ObjectID(w.objs),
			Parameters: in.Parameters(volumeParams()), Secrets: in.Secrets(fuzzCreds)})
	}, nil},
	{"DeleteSnapshot", func(ctx context.Context, w *ctrlWorld, in csifuzz.Input) (proto.Message, error) {
		return w.srv.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: in.ObjectID(w.objs.Swap()), Secrets: in.Secrets(fuzzCreds)})
	}, nil},
	{"ControllerExpandVolume", func(ctx context.Context, w *ctrlWorld, in csifuzz.Input) (proto.Message, error) {
		return w.srv.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: in.ObjectID(w.objs),
			CapacityRange: in.Range(), Secrets: in.Secrets(fuzzCreds), VolumeCapability: in.Capability()})
	}, nil},
	{"ValidateVolumeCapabilities", func(ctx context.Context, w *ctrlWorld, in csifuzz.Input) (proto.Message, error) {
		return w.srv.ValidateVolumeCapabilities(ctx, &csi.ValidateVolumeCapabilitiesRequest{VolumeId: in.ObjectID(w.objs),
			VolumeContext: volumeContext(in), VolumeCapabilities: in.Capabilities(),
			Parameters: in.Parameters(volumeParams()), Secrets: in.Secrets(fuzzCreds)})
	}, nil},
	{"ListSnapshots", func(ctx context.Context, w *ctrlWorld, in csifuzz.Input) (proto.Message, error) {
		req := &csi.ListSnapshotsRequest{MaxEntries: int32(in.Required), Secrets: in.Secrets(fuzzCreds)}
		if in.Has(csifuzz.FlagReadonly) {
			req.StartingToken = in.Name
		}
		if in.Has(csifuzz.FlagFilterSnapshot) {
			req.SnapshotId = in.ObjectID(w.objs.Swap())
		}
		if in.Has(csifuzz.FlagFilterSource) {
			req.SourceVolumeId = in.ObjectID(w.objs)
		}
		return w.srv.ListSnapshots(ctx, req)
	}, nil},
	{"GetSnapshot", func(ctx context.Context, w *ctrlWorld, in csifuzz.Input) (proto.Message, error) {
		return w.srv.GetSnapshot(ctx, &csi.GetSnapshotRequest{SnapshotId: in.ObjectID(w.objs.Swap()), Secrets: in.Secrets(fuzzCreds)})
	}, nil},
	{"GetCapacity", func(ctx context.Context, w *ctrlWorld, in csifuzz.Input) (proto.Message, error) {
		return w.srv.GetCapacity(ctx, &csi.GetCapacityRequest{VolumeCapabilities: in.Capabilities(),
			Parameters: in.Parameters(volumeParams())})
	}, nil},
	{"ControllerPublishVolume", func(ctx context.Context, w *ctrlWorld, in csifuzz.Input) (proto.Message, error) {
		return w.srv.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: in.ObjectID(w.objs),
			NodeId: in.Name, VolumeCapability: in.Capability(), Readonly: in.Has(csifuzz.FlagReadonly),
			Secrets: in.Secrets(fuzzCreds), VolumeContext: volumeContext(in)})
	}, []codes.Code{codes.Unimplemented}},
	{"ControllerUnpublishVolume", func(ctx context.Context, w *ctrlWorld, in csifuzz.Input) (proto.Message, error) {
		return w.srv.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: in.ObjectID(w.objs),
			NodeId: in.Name, Secrets: in.Secrets(fuzzCreds)})
	}, []codes.Code{codes.Unimplemented}},
}

func volumeContext(in csifuzz.Input) map[string]string {
	if !in.Has(csifuzz.FlagVolumeContext) {
		return nil
	}
	return in.Parameters(volumeParams())
}

// FuzzControllerRequests is the Controller service's abuse fuzz target.
func FuzzControllerRequests(f *testing.F) {
	csifuzz.Fuzz(f, csifuzz.Seeds(uint8(len(ctrlRPCs))), func(t *testing.T, in csifuzz.Input) {
		w := newCtrlWorld(t)
		rpc := ctrlRPCs[int(in.RPC)%len(ctrlRPCs)]
		before := w.inventory(t)
		resp, err := csifuzz.Call(t, in, func() (proto.Message, error) { return rpc.call(context.Background(), w, in) })
		csifuzz.Check(t, rpc.method, in, resp, err, rpc.extra...)
		if err != nil {
			csifuzz.Unchanged(t, rpc.method, in, err, before, w.inventory(t))
			return
		}
		checkResponse(t, in, resp)
	})
}

// checkResponse checks what a successful request returned: a volume or a
// snapshot with a decodable ID, and a capacity inside the requested range.
func checkResponse(t *testing.T, in csifuzz.Input, resp proto.Message) {
	t.Helper()
	r := in.Range()
	switch resp := resp.(type) {
	case *csi.CreateVolumeResponse:
		if _, err := volid.Decode(resp.GetVolume().GetVolumeId()); err != nil {
			t.Fatalf("CreateVolume returned the volume ID %q: %v\ninput: %+v", resp.GetVolume().GetVolumeId(), err, in)
		}
		checkCapacity(t, "CreateVolume", in, resp.GetVolume().GetCapacityBytes(), r)
	case *csi.ControllerExpandVolumeResponse:
		checkCapacity(t, "ControllerExpandVolume", in, resp.GetCapacityBytes(), r)
	case *csi.CreateSnapshotResponse:
		if _, err := volid.Decode(resp.GetSnapshot().GetSnapshotId()); err != nil {
			t.Fatalf("CreateSnapshot returned the snapshot ID %q: %v\ninput: %+v", resp.GetSnapshot().GetSnapshotId(), err, in)
		}
	}
}

func checkCapacity(t *testing.T, method string, in csifuzz.Input, got int64, r *csi.CapacityRange) {
	t.Helper()
	var err error
	switch {
	case got <= 0:
		err = errors.New("not positive")
	case got < r.GetRequiredBytes():
		err = errors.New("below required_bytes")
	case r.GetLimitBytes() > 0 && got > r.GetLimitBytes():
		err = errors.New("above limit_bytes")
	}
	if err != nil {
		t.Fatalf("%s returned capacity_bytes %d: %v\ninput: %+v", method, got, err, in)
	}
}
