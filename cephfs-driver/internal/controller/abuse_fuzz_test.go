package controller_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend/fake"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/controller"
	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/csifuzz"
)

// The abuse fuzz target of the Controller service: every handler gets
// requests built from fuzz inputs (shared/csifuzz) against the in-memory
// backend and journal. It must never panic, must answer only with codes the
// CSI spec allows for the RPC (never Unknown or Internal: the fake injects no
// failure), and a rejected request must leave the subvolumes, snapshots and
// journal exactly as they were. This file holds the CephFS world; the RPC
// table and the checks are csifuzz.FuzzController's.

const (
	fuzzCluster = "cluster-1"
	fuzzOther   = "cluster-2" // configured too: cross-cluster sources
	fuzzFS      = "cephfs"
	fuzzGroup   = "csi"
	fuzzKey     = "AQBhc2VjcmV0a2V5c2VjcmV0a2V5c2VjcmV0a2V5MQ=="
)

var fuzzCreds = csifuzz.Credentials{IDField: credentials.AdminIDField, KeyField: credentials.AdminKeyField,
	ID: "admin", Key: fuzzKey}

func volumeParams() map[string]string {
	return map[string]string{"clusterID": fuzzCluster, "fsName": fuzzFS}
}

func snapshotParams() map[string]string {
	return map[string]string{"clusterID": fuzzCluster}
}

// FuzzControllerRequests is the Controller service's abuse fuzz target.
func FuzzControllerRequests(f *testing.F) {
	csifuzz.FuzzController(f, csifuzz.ControllerTarget{New: newCtrlWorld, Creds: fuzzCreds,
		VolumeParams: volumeParams(), SnapshotParams: snapshotParams(),
		// A quota of 0 is no quota, which a request without a limit may get.
		Capacity: csifuzz.CapacityZeroUnlimited,
		// No PUBLISH_UNPUBLISH_VOLUME capability.
		Extra: csifuzz.Unimplemented("ControllerPublishVolume", "ControllerUnpublishVolume")})
}

// newCtrlWorld is one fuzz case's controller over a fresh fake holding one
// volume and one snapshot of it; every backend session it opens must be
// released by the end of the case.
func newCtrlWorld(t *testing.T) *csifuzz.Controller {
	t.Helper()
	be := fake.New()
	be.AddFileSystem(fuzzFS, 7, 100<<30)
	conn := fake.NewConnector(be)
	cephfs := clusterconfig.CephFSConfig{SubvolumeGroup: fuzzGroup, RadosNamespace: "csi"}
	srv, err := controller.New(controller.Config{Connector: conn,
		Clusters: csifuzz.Clusters{
			fuzzCluster: {ClusterID: fuzzCluster, Monitors: []string{"127.0.0.1:6789"}, CephFS: cephfs},
			fuzzOther:   {ClusterID: fuzzOther, Monitors: []string{"127.0.0.2:6789"}, CephFS: cephfs},
		},
		InstanceID: "fuzz", ClonePoll: time.Millisecond, MaxClonePoll: time.Millisecond,
		CapacityCredentials: func() (*credentials.Credentials, error) {
			return &credentials.Credentials{ID: "admin", Key: fuzzKey}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if n := conn.OpenSessions(); n != 0 {
			t.Errorf("%d backend sessions not released", n)
		}
	})
	ctx := context.Background()
	vol, err := srv.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "seed-volume",
		CapacityRange: &csi.CapacityRange{RequiredBytes: 1 << 30}, VolumeCapabilities: csifuzz.Valid.Capabilities(),
		Parameters: volumeParams(), Secrets: csifuzz.Valid.Secrets(fuzzCreds)})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := srv.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "seed-snapshot",
		SourceVolumeId: vol.GetVolume().GetVolumeId(), Parameters: snapshotParams(),
		Secrets: csifuzz.Valid.Secrets(fuzzCreds)})
	if err != nil {
		t.Fatal(err)
	}
	return &csifuzz.Controller{Server: srv, Inventory: func() string { return inventory(be, conn) },
		Objects: csifuzz.Objects{Volume: vol.GetVolume().GetVolumeId(), Snapshot: snap.GetSnapshot().GetSnapshotId()}}
}

// inventory describes the subvolumes of the group (state, quota, path,
// pool, snapshots) and every journal object with its omap.
func inventory(be *fake.Backend, conn *fake.Connector) string {
	ctx := context.Background()
	var b strings.Builder
	subs, err := be.ListSubvolumes(ctx, fuzzFS, fuzzGroup)
	fmt.Fprintf(&b, "subvolumes %v %v\n", subs, err)
	for _, name := range subs {
		ref := backend.SubvolumeRef{FS: fuzzFS, Group: fuzzGroup, Name: name}
		info, err := be.SubvolumeInfo(ctx, ref)
		snaps, serr := be.ListSnapshots(ctx, ref)
		fmt.Fprintf(&b, "  %s %+v %v snapshots %v %v\n", name, info, err, snaps, serr)
	}
	b.WriteString(csifuzz.Omaps(ctx, conn.Store(fuzzFS+".meta", "csi")))
	return b.String()
}
