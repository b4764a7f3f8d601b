package node

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/shared/logging"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/host"
)

// multiNode reports whether the access mode lets several nodes use the
// volume at once.
func (c capability) multiNode() bool {
	switch c.mode {
	case csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY,
		csi.VolumeCapability_AccessMode_MULTI_NODE_SINGLE_WRITER,
		csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER:
		return true
	}
	return false
}

// checkNoOtherHolder refuses to stage a single-node volume that another
// live client holds: a watcher on the image header (another node that
// still has it mapped, or a node Kubernetes lost but that still reaches
// the cluster). Kubernetes' attach/detach controller should prevent it;
// this check also holds when it does not (attachRequired: false, a
// force-detach, a second cluster). A lock without a watcher is a dead
// client's: librbd breaks it on the first write and blocklists its owner,
// which fences it for good, so it does not block (it is logged). A watcher
// seen briefly (the controller resizing the image) is waited out for up to
// holderWait.
func (s *Server) checkNoOtherHolder(ctx context.Context, p *stageParams, req *host.Request) error {
	if p.cap.multiNode() {
		return nil
	}
	deadline := time.Now().Add(s.holderWait)
	for {
		holders, err := s.holders(ctx, req)
		switch {
		case errors.Is(err, host.ErrImageNotFound):
			return status.Errorf(codes.NotFound, "volume %q: %v", p.volumeID, err)
		case err != nil:
			return status.Errorf(codes.Internal, "volume %q: %v", p.volumeID, err)
		case !anyWatcher(holders):
			if len(holders) > 0 {
				logging.FromContext(ctx).Warn("image has a lock without a live owner; librbd breaks it and blocklists "+
					"the owner on the first write", zap.String("volumeID", p.volumeID), zap.String("holders", joinStrings(holders)))
			}
			return nil
		case time.Now().After(deadline) || ctx.Err() != nil:
			return status.Errorf(codes.FailedPrecondition, "volume %q (image %s) has a single-node access mode and is held "+
				"by another client: %s; it is still in use on another node, or that node died without releasing it "+
				"(see docs/migrating-node.md, breaking a stale claim)", p.volumeID, req.Spec(), joinStrings(holders))
		}
		logging.FromContext(ctx).Info("image held by another client, waiting", zap.String("volumeID", p.volumeID),
			zap.String("holders", joinStrings(holders)))
		time.Sleep(s.holderPoll)
	}
}

// checkNotMapped refuses to map an image that is already mapped on this
// host by someone else (ceph-csi, an operator, another plugin instance).
// A leftover of this plugin's own interrupted attach is not someone else:
// the record's teardown or the fuse attacher clears it.
func (s *Server) checkNotMapped(ctx context.Context, p *stageParams, req *host.Request) error {
	ms, err := s.mappings(ctx, req.Pool, req.Namespace, req.Image)
	if err != nil {
		return status.Errorf(codes.Internal, "volume %q: checking whether %s is mapped: %v", p.volumeID, req.Spec(), err)
	}
	own := host.FuseMountpoint(req.WorkDir)
	var others []host.Mapping
	for _, m := range ms {
		if m.Device != own {
			others = append(others, m)
		}
	}
	if len(others) > 0 {
		return status.Errorf(codes.FailedPrecondition, "volume %q: image %s is already mapped on this node: %s; "+
			"not mapping it a second time", p.volumeID, req.Spec(), joinStrings(others))
	}
	return nil
}

// joinStrings joins the String() of each element with "; ".
func joinStrings[T interface{ String() string }](xs []T) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = x.String()
	}
	return strings.Join(s, "; ")
}

// anyWatcher reports whether a holder is a watcher (a live client).
func anyWatcher(holders []host.Holder) bool {
	for _, h := range holders {
		if h.Kind == host.HolderWatcher {
			return true
		}
	}
	return false
}
