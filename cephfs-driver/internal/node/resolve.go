package node

import (
	"context"
	"errors"

	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/nodelookup"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/volctx"
	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/logging"
)

// resolve completes, from the cluster, a volume whose context leaves out
// where it is: a ceph-csi PV from before v3.3 (no subvolumePath) or a
// shallow volume of ceph-csi (no backingSnapshotRoot/Dir). Other volumes
// need no round trip.
func (s *Server) resolve(ctx context.Context, volumeID string, v *volume, cluster *clusterconfig.Cluster, creds *credentials.Credentials) error {
	if v.lookupName == "" && !v.lookupBacking {
		return nil
	}
	if s.cfg.Lookup == nil {
		return status.Errorf(codes.InvalidArgument, "volume_context: missing %q (or %q and %q for a shallow volume)",
			volctx.SubvolumePath, volctx.BackingSnapshotRoot, volctx.BackingSnapshotDir)
	}
	log := logging.FromContext(ctx)
	if v.lookupBacking {
		b, err := s.cfg.Lookup.BackingSnapshot(ctx, cluster, creds, volumeID)
		if err != nil {
			return lookupError(err, "the backing snapshot of shallow volume "+volumeID)
		}
		v.path, v.backingDir, v.lookupBacking = b.Root, b.Dir, false
		if v.fsName == "" {
			v.fsName = b.FSName
		}
		log.Info("located the backing snapshot on the cluster", zap.String("root", v.path), zap.String("dir", v.backingDir))
		return nil
	}
	group := v.lookupGroup
	if group == "" {
		group = cluster.CephFS.SubvolumeGroup
	}
	if group == "" {
		group = clusterconfig.DefaultSubvolumeGroup
	}
	p, err := s.cfg.Lookup.SubvolumePath(ctx, cluster, creds, v.fsName, group, v.lookupName)
	if err != nil {
		return lookupError(err, "the path of subvolume "+group+"/"+v.lookupName)
	}
	v.path, v.lookupName = p, ""
	log.Info("looked up the subvolume path (volume context without subvolumePath)", zap.String("path", p))
	return nil
}

func lookupError(err error, what string) error {
	switch {
	case errors.Is(err, nodelookup.ErrNotFound):
		return status.Errorf(codes.NotFound, "%s: %v", what, err)
	case errors.Is(err, backend.ErrConnect):
		return status.Errorf(codes.Unavailable, "%s: %v", what, err)
	case errors.Is(err, backend.ErrPermission):
		return status.Errorf(codes.PermissionDenied, "%s: %v", what, err)
	}
	if st, ok := status.FromError(err); ok {
		return st.Err()
	}
	return status.Errorf(codes.Internal, "%s: %v", what, err)
}
