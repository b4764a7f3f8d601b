package controller

import (
	"context"
	"slices"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"go.uber.org/zap"

	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/csicaps"
	"github.com/seed-6a310834/ceph-csi/shared/logging"
	"github.com/seed-6a310834/ceph-csi/shared/oplock"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// GroupServer is the CSI GroupController service: volume group snapshots
// (see groupcreate.go for how they are taken). It shares the Controller
// server's configuration, locks and background purger.
type GroupServer struct {
	csi.UnimplementedGroupControllerServer
	s *Server
}

var _ csi.GroupControllerServer = (*GroupServer)(nil)

// Group returns the GroupController service of the server.
func (s *Server) Group() *GroupServer { return &GroupServer{s: s} }

// GroupControllerGetCapabilities advertises volume group snapshots.
func (g *GroupServer) GroupControllerGetCapabilities(context.Context, *csi.GroupControllerGetCapabilitiesRequest) (*csi.GroupControllerGetCapabilitiesResponse, error) {
	return csicaps.Group(csi.GroupControllerServiceCapability_RPC_CREATE_DELETE_GET_VOLUME_GROUP_SNAPSHOT), nil
}

// groupPlan is a validated CreateVolumeGroupSnapshot request.
type groupPlan struct {
	name    string
	sources []string
	params  map[string]string
	creds   *credentials.Credentials
	// clusterID is the sources' cluster (all must share it).
	clusterID string
}

func newGroupPlan(req *csi.CreateVolumeGroupSnapshotRequest) (*groupPlan, error) {
	p := &groupPlan{name: req.GetName(), sources: req.GetSourceVolumeIds(), params: req.GetParameters()}
	switch {
	case p.name == "":
		return nil, invalidArg("name", "is required")
	case len(p.sources) == 0:
		return nil, invalidArg("source_volume_ids", "is required")
	}
	if err := checkGroupKeys(p.params); err != nil {
		return nil, err
	}
	for i, id := range p.sources {
		if id == "" {
			return nil, invalidArg("source_volume_ids", "entry %d is empty", i)
		}
		if slices.Index(p.sources, id) != i {
			return nil, invalidArg("source_volume_ids", "volume %q is listed twice", id)
		}
		vid, err := volid.Decode(id)
		if err != nil {
			return nil, notFound("source_volume_ids", "%q cannot exist: %v", id, err)
		}
		if i == 0 {
			p.clusterID = vid.ClusterID
		} else if vid.ClusterID != p.clusterID {
			return nil, invalidArg("source_volume_ids",
				"volumes of one group snapshot must be in one cluster and pool: %q is in cluster %q, %q in %q",
				p.sources[0], p.clusterID, id, vid.ClusterID)
		}
	}
	var err error
	p.creds, err = credentials.ForRBD(req.GetSecrets())
	return p, err
}

// checkGroupKeys checks the VolumeGroupSnapshotClass parameters against
// GroupSnapshotClassParams (clusterID and pool must match the sources,
// see checkParams).
func checkGroupKeys(params map[string]string) error {
	if err := checkTable(GroupSnapshotClassParams, params); err != nil {
		return err
	}
	if v, ok := params[paramVolumeGroupNamePrefix]; ok {
		if v == "" {
			return invalidArg("parameters."+paramVolumeGroupNamePrefix, "is empty")
		}
		return checkName(paramVolumeGroupNamePrefix, v)
	}
	return nil
}

// CreateVolumeGroupSnapshot takes (or, for a known name, returns) a
// crash-consistent snapshot of the source volumes.
func (g *GroupServer) CreateVolumeGroupSnapshot(ctx context.Context, req *csi.CreateVolumeGroupSnapshotRequest) (*csi.CreateVolumeGroupSnapshotResponse, error) {
	p, err := newGroupPlan(req)
	if err != nil {
		return nil, toStatus(err)
	}
	keys := []oplock.Key{{Kind: oplock.KindGroupSnapshotName, ID: p.name}}
	for _, id := range p.sources {
		keys = append(keys, oplock.Key{Kind: oplock.KindVolumeID, ID: id})
	}
	release, err := g.s.locks.Acquire(keys...)
	if err != nil {
		return nil, err
	}
	defer release()
	gs, err := g.s.createGroupSnapshot(ctx, p)
	if err != nil {
		logging.FromContext(ctx).Info("CreateVolumeGroupSnapshot failed", zap.String("name", p.name), zap.Error(err))
		return nil, toStatus(err)
	}
	return &csi.CreateVolumeGroupSnapshotResponse{GroupSnapshot: gs}, nil
}

// DeleteVolumeGroupSnapshot removes a group snapshot with its member
// snapshots. Unknown and malformed IDs succeed.
func (g *GroupServer) DeleteVolumeGroupSnapshot(ctx context.Context, req *csi.DeleteVolumeGroupSnapshotRequest) (*csi.DeleteVolumeGroupSnapshotResponse, error) {
	id := req.GetGroupSnapshotId()
	if id == "" {
		return nil, toStatus(invalidArg("group_snapshot_id", "is required"))
	}
	creds, err := credentials.ForRBD(req.GetSecrets())
	if err != nil {
		return nil, err
	}
	release, err := g.s.locks.Acquire(oplock.Key{Kind: oplock.KindGroupSnapshotID, ID: id})
	if err != nil {
		return nil, err
	}
	defer release()
	if err := g.s.deleteGroupSnapshot(ctx, id, req.GetSnapshotIds(), creds); err != nil {
		logging.FromContext(ctx).Info("DeleteVolumeGroupSnapshot failed", zap.String("group_snapshot_id", id),
			zap.Error(err))
		return nil, toStatus(err)
	}
	return &csi.DeleteVolumeGroupSnapshotResponse{}, nil
}

// GetVolumeGroupSnapshot describes a group snapshot. Unknown: NotFound.
func (g *GroupServer) GetVolumeGroupSnapshot(ctx context.Context, req *csi.GetVolumeGroupSnapshotRequest) (*csi.GetVolumeGroupSnapshotResponse, error) {
	id := req.GetGroupSnapshotId()
	if id == "" {
		return nil, toStatus(invalidArg("group_snapshot_id", "is required"))
	}
	creds, err := credentials.ForRBD(req.GetSecrets())
	if err != nil {
		return nil, err
	}
	gs, err := g.s.getGroupSnapshot(ctx, id, req.GetSnapshotIds(), creds)
	if err != nil {
		return nil, toStatus(err)
	}
	return &csi.GetVolumeGroupSnapshotResponse{GroupSnapshot: gs}, nil
}
