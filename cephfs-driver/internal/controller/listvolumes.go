package controller

import (
	"context"
	"errors"
	"fmt"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/listpage"
)

// ListVolumes lists the volumes of this driver instance from the volume
// journals in the metadata pool of every file system of every configured
// cluster, paging through each journal directory (shared/listpage): one
// bounded omap read plus one read per entry, never a listing of the
// subvolumes. A volume whose creation is still running is listed too (its
// reservation exists). The request has no secrets: the driver's own
// credentials are used. Capacity is left unknown (0); ControllerGetVolume
// reports it.
func (s *Server) ListVolumes(ctx context.Context, req *csi.ListVolumesRequest) (*csi.ListVolumesResponse, error) {
	resp := &csi.ListVolumesResponse{}
	next, err := s.walkVolumes(ctx, nil, req.GetStartingToken(), req.GetMaxEntries(),
		func(_ context.Context, _ *scope, id string, _ *journal.Record) (bool, error) {
			resp.Entries = append(resp.Entries, &csi.ListVolumesResponse_Entry{Volume: &csi.Volume{VolumeId: id}})
			return true, nil
		})
	if err != nil {
		return nil, err
	}
	resp.NextToken = next
	return resp, nil
}

// ControllerListVolumeHealth lists the volumes with an adverse condition
// (subvolume or backing snapshot gone), paging like ListVolumes; healthy
// volumes are omitted. An unreachable cluster fails the call.
func (s *Server) ControllerListVolumeHealth(ctx context.Context, req *csi.ControllerListVolumeHealthRequest) (*csi.ControllerListVolumeHealthResponse, error) {
	resp := &csi.ControllerListVolumeHealthResponse{}
	next, err := s.walkVolumes(ctx, req.GetSecrets(), req.GetStartingToken(), req.GetMaxEntries(),
		func(ctx context.Context, sc *scope, id string, rec *journal.Record) (bool, error) {
			health := &csi.VolumeHealth{VolumeId: id}
			if err := checkVolume(ctx, sc, rec, health); err != nil || len(health.HealthStatuses) == 0 {
				return false, err
			}
			resp.Entries = append(resp.Entries, health)
			return true, nil
		})
	if err != nil {
		return nil, err
	}
	resp.NextToken = next
	return resp, nil
}

// visitFunc handles one volume and says whether it counts.
type visitFunc func(ctx context.Context, sc *scope, id string, rec *journal.Record) (bool, error)

// walkVolumes validates the paging fields and walks the volume journals.
func (s *Server) walkVolumes(ctx context.Context, secrets map[string]string, token string, max int32, visit visitFunc) (string, error) {
	if max < 0 {
		return "", status.Errorf(codes.InvalidArgument, "max_entries: %d is negative", max)
	}
	creds, err := s.driverCredentials(secrets)
	if err != nil {
		return "", err
	}
	clusters, err := s.cfg.Clusters.Clusters()
	if err != nil {
		return "", toStatus(err)
	}
	ids := make([]string, 0, len(clusters))
	for _, c := range clusters {
		ids = append(ids, c.ClusterID)
	}
	next, err := listpage.Walk(ctx, &volumeWalker{s: s, creds: creds, visit: visit}, ids, token, int(max))
	if errors.Is(err, listpage.ErrBadToken) {
		return "", status.Errorf(codes.Aborted, "starting_token %q: %v", token, err)
	}
	return next, toStatus(err)
}

// volumeWalker opens the clusters of a listing.
type volumeWalker struct {
	s     *Server
	creds *credentials.Credentials
	visit visitFunc
}

func (w *volumeWalker) Open(ctx context.Context, clusterID string) (listpage.Cluster, error) {
	cluster, err := w.s.cfg.Clusters.Get(clusterID)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", clusterconfig.ErrConfig, err)
	}
	sess, err := w.s.connect(ctx, cluster, w.creds)
	if err != nil {
		return nil, err
	}
	return &volumeCluster{volumeWalker: w, cluster: cluster, sess: sess, scopes: map[string]*scope{}}, nil
}

// volumeCluster is one cluster of a listing: its file systems are the
// locations.
type volumeCluster struct {
	*volumeWalker
	cluster *clusterconfig.Cluster
	sess    backend.Session
	fss     map[string]backend.FileSystem
	scopes  map[string]*scope
}

func (v *volumeCluster) Locations(ctx context.Context) ([]string, error) {
	list, err := v.sess.Backend().FileSystems(ctx)
	if err != nil {
		return nil, err
	}
	v.fss = map[string]backend.FileSystem{}
	names := make([]string, 0, len(list))
	for _, fs := range list {
		v.fss[fs.Name] = fs
		names = append(names, fs.Name)
	}
	return names, nil
}

func (v *volumeCluster) Journal(_ context.Context, fsName string) (*journal.Journal, error) {
	fs := v.fss[fsName]
	store, release, err := v.sess.ObjectStore(fs.MetadataPool, v.cluster.CephFS.RadosNamespace)
	if err != nil {
		return nil, fmt.Errorf("open journal in pool %s: %w", fs.MetadataPool, err)
	}
	sc := &scope{cluster: v.cluster, fs: fs, group: v.cluster.CephFS.SubvolumeGroup, be: v.sess.Backend(), store: store,
		vols:  journal.New(store, journal.Options{Kind: journal.Volumes, Instance: v.s.cfg.InstanceID}),
		snaps: journal.New(store, journal.Options{Kind: journal.Snapshots, Instance: v.s.cfg.InstanceID}),
		close: release}
	v.scopes[fsName] = sc
	return sc.vols, nil
}

func (v *volumeCluster) Close() {
	for _, sc := range v.scopes {
		sc.close()
	}
	v.sess.Release()
}

// Visit reads an entry's record and hands it to the visit function;
// vanished or unparsable entries do not count.
func (v *volumeCluster) Visit(ctx context.Context, fsName string, e journal.Entry) (bool, error) {
	sc := v.scopes[fsName]
	if e.UUID == "" {
		return false, nil
	}
	rec, err := sc.vols.Get(ctx, e.UUID)
	if errors.Is(err, journal.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	id, err := sc.encodeID(rec.UUID)
	if err != nil {
		return false, err
	}
	return v.visit(ctx, sc, id, rec)
}
