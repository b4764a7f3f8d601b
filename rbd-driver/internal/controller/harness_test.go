package controller

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend/fake"
	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
)

const (
	testCluster = "cluster-1"
	testPool    = "rbd"
	otherPool   = "ec-data"
	jPool       = "journal"
	availBytes  = int64(10) << 30
)

// clusters is an in-memory Clusters.
type clusters map[string]*clusterconfig.Cluster

func (c clusters) Get(id string) (*clusterconfig.Cluster, error) {
	if cl, ok := c[id]; ok {
		return cl, nil
	}
	return nil, errors.Join(clusterconfig.ErrClusterNotFound, errors.New("clusterID "+id))
}

func (c clusters) Clusters() ([]*clusterconfig.Cluster, error) {
	var out []*clusterconfig.Cluster
	for _, cl := range c {
		out = append(out, cl)
	}
	sort.Slice(out, func(i, k int) bool { return out[i].ClusterID < out[k].ClusterID })
	return out, nil
}

type env struct {
	t  *testing.T
	s  *Server
	be *fake.Backend
}

func secrets() map[string]string {
	return map[string]string{"userID": "admin", "userKey": "AQBZdAlrAAAAABAAvalidkeyvalidkeyvalid=="}
}

func newEnv(t *testing.T, mod ...func(*Config)) *env {
	t.Helper()
	be := fake.New()
	be.AddCluster(testCluster, availBytes, testPool, otherPool, jPool)
	cfg := Config{
		Backend:        be,
		Clusters:       clusters{testCluster: {ClusterID: testCluster, Monitors: []string{"127.0.0.1:6789"}}},
		CloneSoftDepth: 2,
		CloneHardDepth: 3,
		DefaultSecrets: func() (map[string]string, error) { return secrets(), nil },
		WatcherWait:    -1,
	}
	for _, m := range mod {
		m(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return &env{t: t, s: s, be: be}
}

// waitPurges waits for the background purges queued so far.
func (e *env) waitPurges() {
	if e.s.purger != nil {
		e.s.purger.wait()
	}
}

func mountCap(mode csi.VolumeCapability_AccessMode_Mode) *csi.VolumeCapability {
	return &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: "ext4"}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: mode},
	}
}

func blockCap(mode csi.VolumeCapability_AccessMode_Mode) *csi.VolumeCapability {
	return &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: mode},
	}
}

const snw = csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER

func volReq(name string, size int64) *csi.CreateVolumeRequest {
	r := &csi.CreateVolumeRequest{
		Name:               name,
		VolumeCapabilities: []*csi.VolumeCapability{mountCap(snw)},
		Parameters:         map[string]string{"clusterID": testCluster, "pool": testPool},
		Secrets:            secrets(),
	}
	if size > 0 {
		r.CapacityRange = &csi.CapacityRange{RequiredBytes: size}
	}
	return r
}

func (e *env) create(req *csi.CreateVolumeRequest) *csi.Volume {
	e.t.Helper()
	resp, err := e.s.CreateVolume(context.Background(), req)
	if err != nil {
		e.t.Fatalf("CreateVolume(%s): %v", req.GetName(), err)
	}
	return resp.GetVolume()
}

func (e *env) deleteVolume(id string) {
	e.t.Helper()
	if _, err := e.s.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: id, Secrets: secrets()}); err != nil {
		e.t.Fatalf("DeleteVolume(%s): %v", id, err)
	}
}

func (e *env) snapshot(name, volID string) *csi.Snapshot {
	e.t.Helper()
	resp, err := e.s.CreateSnapshot(context.Background(), &csi.CreateSnapshotRequest{
		Name: name, SourceVolumeId: volID, Secrets: secrets()})
	if err != nil {
		e.t.Fatalf("CreateSnapshot(%s): %v", name, err)
	}
	return resp.GetSnapshot()
}

func (e *env) deleteSnapshot(id string) {
	e.t.Helper()
	if _, err := e.s.DeleteSnapshot(context.Background(), &csi.DeleteSnapshotRequest{SnapshotId: id, Secrets: secrets()}); err != nil {
		e.t.Fatalf("DeleteSnapshot(%s): %v", id, err)
	}
}

// assertEmpty runs the mgr tasks and checks that no image, trash entry,
// snapshot or journal key is left in any pool.
func (e *env) assertEmpty() {
	e.t.Helper()
	e.waitPurges()
	for i := 0; i < 5; i++ {
		e.be.RunTasks()
	}
	for _, p := range []string{testPool, otherPool, jPool} {
		if c := e.be.Contents(testCluster, p); !c.Empty() {
			e.t.Errorf("pool %s not empty: %+v (pending tasks %v)", p, c, e.be.PendingTasks())
		}
	}
}

// wantCode checks err's code and that its message contains every fragment.
func wantCode(t *testing.T, err error, code codes.Code, fragments ...string) {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != code {
		t.Fatalf("got %v (%v), want code %v", st.Code(), err, code)
	}
	for _, f := range fragments {
		if !strings.Contains(st.Message(), f) {
			t.Errorf("message %q lacks %q", st.Message(), f)
		}
	}
}
