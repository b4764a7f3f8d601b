package controller

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend/fake"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/volctx"
	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/csisource"
)

const (
	testCluster = "cluster-1"
	testFS      = "cephfs"
	testFSID    = 7
	testGroup   = "csi"
	testKey     = "AQBhc2VjcmV0a2V5c2VjcmV0a2V5c2VjcmV0a2V5MQ=="
	gib         = int64(1) << 30
)

// fakeClusters is a fixed cluster configuration.
type fakeClusters map[string]*clusterconfig.Cluster

func (f fakeClusters) Get(id string) (*clusterconfig.Cluster, error) {
	c, ok := f[id]
	if !ok {
		return nil, fmt.Errorf("clusterID %q: %w", id, clusterconfig.ErrClusterNotFound)
	}
	cc := *c
	return &cc, nil
}

func (f fakeClusters) Clusters() ([]*clusterconfig.Cluster, error) {
	var out []*clusterconfig.Cluster
	for _, c := range f {
		cc := *c
		out = append(out, &cc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ClusterID < out[j].ClusterID })
	return out, nil
}

// fixture is a controller over the fake backend.
type fixture struct {
	t    *testing.T
	be   *fake.Backend
	conn *fake.Connector
	srv  *Server
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	be := fake.New()
	be.AddFileSystem(testFS, testFSID, 100*gib)
	conn := fake.NewConnector(be)
	clusters := fakeClusters{testCluster: {ClusterID: testCluster, Monitors: []string{"mon:6789"},
		CephFS: clusterconfig.CephFSConfig{SubvolumeGroup: testGroup, RadosNamespace: "csi"}}}
	srv, err := New(Config{Connector: conn, Clusters: clusters, InstanceID: "unit", ClonePoll: time.Millisecond,
		MaxClonePoll: 5 * time.Millisecond,
		CapacityCredentials: func() (*credentials.Credentials, error) {
			return &credentials.Credentials{ID: "admin", Key: testKey}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, be: be, conn: conn, srv: srv}
	t.Cleanup(func() {
		if n := conn.OpenSessions(); n != 0 {
			t.Errorf("%d sessions not released", n)
		}
	})
	return f
}

func secrets() map[string]string {
	return map[string]string{credentials.AdminIDField: "admin", credentials.AdminKeyField: testKey}
}

func params(kv ...string) map[string]string {
	p := map[string]string{volctx.ClusterID: testCluster, volctx.FSName: testFS}
	for i := 0; i+1 < len(kv); i += 2 {
		p[kv[i]] = kv[i+1]
	}
	return p
}

func mountCap(mode csi.VolumeCapability_AccessMode_Mode) *csi.VolumeCapability {
	return &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: mode},
	}
}

func createReq(name string, size int64) *csi.CreateVolumeRequest {
	return &csi.CreateVolumeRequest{
		Name:               name,
		CapacityRange:      &csi.CapacityRange{RequiredBytes: size},
		VolumeCapabilities: []*csi.VolumeCapability{mountCap(csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER)},
		Parameters:         params(),
		Secrets:            secrets(),
	}
}

func fromSnapshot(req *csi.CreateVolumeRequest, snapID string) *csi.CreateVolumeRequest {
	req.VolumeContentSource = csisource.Snapshot(snapID)
	return req
}

func fromVolume(req *csi.CreateVolumeRequest, volID string) *csi.CreateVolumeRequest {
	req.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{
		Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: volID}}}
	return req
}

func (f *fixture) create(req *csi.CreateVolumeRequest) *csi.Volume {
	f.t.Helper()
	resp, err := f.srv.CreateVolume(context.Background(), req)
	if err != nil {
		f.t.Fatalf("CreateVolume(%s): %v", req.GetName(), err)
	}
	return resp.GetVolume()
}

func (f *fixture) snapshot(name, volID string) *csi.Snapshot {
	f.t.Helper()
	resp, err := f.srv.CreateSnapshot(context.Background(), &csi.CreateSnapshotRequest{
		Name: name, SourceVolumeId: volID, Secrets: secrets()})
	if err != nil {
		f.t.Fatalf("CreateSnapshot(%s): %v", name, err)
	}
	return resp.GetSnapshot()
}

func (f *fixture) deleteVolume(id string) {
	f.t.Helper()
	if _, err := f.srv.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: id, Secrets: secrets()}); err != nil {
		f.t.Fatalf("DeleteVolume(%s): %v", id, err)
	}
}

func (f *fixture) deleteSnapshot(id string) error {
	_, err := f.srv.DeleteSnapshot(context.Background(), &csi.DeleteSnapshotRequest{SnapshotId: id, Secrets: secrets()})
	return err
}

// subvolumes lists the group.
func (f *fixture) subvolumes() []string {
	f.t.Helper()
	names, err := f.be.ListSubvolumes(context.Background(), testFS, testGroup)
	if errors.Is(err, backend.ErrNotFound) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return names
}

// journalKeys returns every object and omap pair of the journal's store.
func (f *fixture) journalObjects() []string {
	f.t.Helper()
	store := f.conn.Store(testFS+".meta", "csi")
	names, err := store.ListObjects(context.Background(), "")
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		kv, _ := store.ListOmap(context.Background(), n, "")
		if len(kv) > 0 || !strings.HasPrefix(n, "csi.volumes.") && !strings.HasPrefix(n, "csi.snaps.") &&
			!strings.HasPrefix(n, "csi.groups.") {
			out = append(out, n)
		}
	}
	return out
}

// wantClean fails unless the group and the journal are empty.
func (f *fixture) wantClean() {
	f.t.Helper()
	if subs := f.subvolumes(); len(subs) > 0 {
		f.t.Errorf("subvolumes left: %v", subs)
	}
	if objs := f.journalObjects(); len(objs) > 0 {
		f.t.Errorf("journal objects left: %v", objs)
	}
}

// wantCode fails unless err is a status with code and a message holding
// every one of words.
func wantCode(t *testing.T, err error, code codes.Code, words ...string) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != code {
		t.Fatalf("error %v, want code %v", err, code)
	}
	for _, w := range words {
		if !strings.Contains(st.Message(), w) {
			t.Fatalf("message %q does not name %q", st.Message(), w)
		}
	}
}
