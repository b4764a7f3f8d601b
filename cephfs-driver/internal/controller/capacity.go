package controller

import (
	"context"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/volctx"
	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
)

// GetCapacity reports the free space of the data pool that new volumes of
// the given parameters would use (the pool parameter, else the file
// system's default data pool). Without clusterID or fsName it picks the
// only cluster or file system there is. It authenticates with
// Config.CapacityCredentials, as the request carries no secrets.
func (s *Server) GetCapacity(ctx context.Context, req *csi.GetCapacityRequest) (*csi.GetCapacityResponse, error) {
	if s.cfg.CapacityCredentials == nil {
		return nil, status.Error(codes.Unimplemented, "GetCapacity needs capacity credentials (--capacity-secret-dir)")
	}
	for _, c := range req.GetVolumeCapabilities() {
		if capabilityError(c, false) != "" {
			return &csi.GetCapacityResponse{}, nil
		}
	}
	params, err := parseCapacityParams(req.GetParameters())
	if err != nil {
		return nil, err
	}
	creds, err := s.cfg.CapacityCredentials()
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "capacity credentials: %v", err)
	}
	cluster, err := s.capacityCluster(params.ClusterID)
	if err != nil {
		return nil, err
	}
	sess, err := s.connect(ctx, cluster, creds)
	if err != nil {
		return nil, toStatus(err)
	}
	defer sess.Release()
	avail, err := s.poolSpace(ctx, sess.Backend(), cluster.ClusterID, params)
	if err != nil {
		return nil, err
	}
	return &csi.GetCapacityResponse{AvailableCapacity: avail}, nil
}

// parseCapacityParams accepts the CreateVolume parameters, without
// requiring clusterID and fsName.
func parseCapacityParams(params map[string]string) (*volumeParams, error) {
	p := &volumeParams{}
	for k, v := range params {
		if err := p.set(k, v); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (s *Server) capacityCluster(id string) (*clusterconfig.Cluster, error) {
	if id != "" {
		c, err := s.cfg.Clusters.Get(id)
		if err != nil {
			return nil, clusterError(err, "parameter "+paramClusterID, codes.InvalidArgument)
		}
		return c, nil
	}
	all, err := s.cfg.Clusters.Clusters()
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "cluster configuration: %v", err)
	}
	if len(all) != 1 {
		return nil, status.Errorf(codes.InvalidArgument,
			"missing parameter %q: the configuration lists %d clusters", paramClusterID, len(all))
	}
	return all[0], nil
}

func (s *Server) poolSpace(ctx context.Context, be backend.Backend, clusterID string, p *volumeParams) (int64, error) {
	fs, err := s.capacityFS(ctx, be, clusterID, p.FSName)
	if err != nil {
		return 0, err
	}
	pool := p.Pool
	if pool == "" && len(fs.DataPools) > 0 {
		pool = fs.DataPools[0]
	}
	usage, err := be.PoolUsage(ctx, fs.Name, pool)
	if err != nil {
		return 0, fsError(err, "parameter "+volctx.Pool, codes.InvalidArgument)
	}
	return usage.Available, nil
}

func (s *Server) capacityFS(ctx context.Context, be backend.Backend, clusterID, name string) (backend.FileSystem, error) {
	if name != "" {
		fs, err := s.fs.find(ctx, be, clusterID, name, 0)
		if err != nil {
			return fs, fsError(err, "parameter "+paramFSName, codes.InvalidArgument)
		}
		return fs, nil
	}
	all, err := be.FileSystems(ctx)
	if err != nil {
		return backend.FileSystem{}, toStatus(err)
	}
	if len(all) != 1 {
		return backend.FileSystem{}, status.Errorf(codes.InvalidArgument,
			"missing parameter %q: the cluster has %d file systems", paramFSName, len(all))
	}
	return all[0], nil
}
