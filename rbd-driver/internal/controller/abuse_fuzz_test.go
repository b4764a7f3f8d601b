package controller_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend/fake"
	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/controller"
	"github.com/seed-6a310834/ceph-csi/shared/csifuzz"
)

// The abuse fuzz target of the Controller service: every handler gets
// requests built from fuzz inputs (shared/csifuzz) against the in-memory
// backend and journal. It must never panic, must answer only with codes the
// CSI spec allows for the RPC (never Unknown or Internal: the fake injects no
// failure), and a rejected request must leave the backend and the journal
// exactly as they were. This file holds the RBD world; the RPC table and
// the checks are csifuzz.FuzzController's.

const (
	fuzzCluster = "cluster-1"
	fuzzOther   = "cluster-2" // configured too: cross-cluster sources
	fuzzKey     = "AQBZdAlrAAAAABAAvalidkeyvalidkeyvalid=="
)

var fuzzPools = []string{"rbd", "ec-data"}

var fuzzCreds = csifuzz.Credentials{IDField: "userID", KeyField: "userKey", ID: "admin", Key: fuzzKey}

func volumeParams() map[string]string {
	return map[string]string{"clusterID": fuzzCluster, "pool": "rbd"}
}

// FuzzControllerRequests is the Controller service's abuse fuzz target.
func FuzzControllerRequests(f *testing.F) {
	csifuzz.FuzzController(f, csifuzz.ControllerTarget{New: newCtrlWorld, Creds: fuzzCreds, Capacity: csifuzz.CapacityPositive,
		VolumeParams: volumeParams(), SnapshotParams: volumeParams(),
		// No PUBLISH_UNPUBLISH_VOLUME capability.
		Extra: csifuzz.Unimplemented("ControllerPublishVolume", "ControllerUnpublishVolume")})
}

// newCtrlWorld is one fuzz case's controller over a fresh fake holding one
// volume and one snapshot of it.
func newCtrlWorld(t *testing.T) *csifuzz.Controller {
	t.Helper()
	be := fake.New()
	be.AddCluster(fuzzCluster, 10<<30, fuzzPools...)
	be.AddCluster(fuzzOther, 10<<30, fuzzPools...)
	srv, err := controller.New(controller.Config{
		Backend: be,
		Clusters: csifuzz.Clusters{
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
	return &csifuzz.Controller{Server: srv, Inventory: func() string { return inventory(t, be) },
		Objects: csifuzz.Objects{Volume: vol.GetVolume().GetVolumeId(), Snapshot: snap.GetSnapshot().GetSnapshotId()}}
}

// inventory describes everything the fake holds: images (size, features,
// depth, metadata), trash, snapshots, mgr tasks and every journal object
// with its omap.
func inventory(t *testing.T, be *fake.Backend) string {
	t.Helper()
	var b strings.Builder
	for _, cluster := range []string{fuzzCluster, fuzzOther} {
		for _, pool := range fuzzPools {
			c := be.Contents(cluster, pool)
			fmt.Fprintf(&b, "%s/%s: images %v trash %v snapshots %d\n", cluster, pool, c.Images, c.Trash, c.Snapshots)
			for _, img := range c.Images {
				ns, name, _ := strings.Cut(img, "/")
				ref := backend.ImageRef{PoolRef: backend.PoolRef{Pool: pool, Namespace: ns}, Name: name}
				info, _ := be.Image(cluster, ref)
				fmt.Fprintf(&b, "  %s %+v metadata %v\n", img, info, be.ImageMetadata(cluster, ref))
			}
			b.WriteString(journal(t, be, cluster, pool))
		}
	}
	fmt.Fprintf(&b, "tasks %v\n", be.PendingTasks())
	return b.String()
}

// journal describes the journal objects of one pool.
func journal(t *testing.T, be *fake.Backend, cluster, pool string) string {
	t.Helper()
	ctx := context.Background()
	sess, err := be.Connect(ctx, backend.Target{ClusterID: cluster})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Release()
	st, err := sess.ObjectStore(ctx, backend.PoolRef{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	return csifuzz.Omaps(ctx, st)
}
