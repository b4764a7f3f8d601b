package controller

import (
	"context"
	"errors"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/listpage"
)

// ListVolumes lists the finished volumes of this driver instance from the
// volume journals of every pool of every configured cluster, paging
// through each journal directory (shared/listpage): the cost of a page is
// one bounded omap read plus one read per entry, never a scan of the
// pools' images. The request has no secrets: the driver's own credentials
// are used. Capacity is left unknown (0): reading it would open every
// image; ControllerGetVolume reports it.
func (s *Server) ListVolumes(ctx context.Context, req *csi.ListVolumesRequest) (*csi.ListVolumesResponse, error) {
	resp := &csi.ListVolumesResponse{}
	next, err := s.walkVolumes(ctx, nil, req.GetStartingToken(), req.GetMaxEntries(),
		func(_ context.Context, _ *cluster, _ string, id string, _ *journal.Record) (bool, error) {
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
// (their image is gone), paging like ListVolumes; healthy volumes are
// omitted. An unreachable cluster fails the call with Unavailable.
func (s *Server) ControllerListVolumeHealth(ctx context.Context, req *csi.ControllerListVolumeHealthRequest) (*csi.ControllerListVolumeHealthResponse, error) {
	resp := &csi.ControllerListVolumeHealthResponse{}
	next, err := s.walkVolumes(ctx, req.GetSecrets(), req.GetStartingToken(), req.GetMaxEntries(),
		func(ctx context.Context, c *cluster, imagePool, id string, rec *journal.Record) (bool, error) {
			health := &csi.VolumeHealth{VolumeId: id}
			if err := s.checkImage(ctx, c, imagePool, rec, health); err != nil || len(health.HealthStatuses) == 0 {
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

// visitFunc handles one finished volume and says whether it counts.
type visitFunc func(ctx context.Context, c *cluster, imagePool, id string, rec *journal.Record) (bool, error)

// walkVolumes validates the paging fields and walks the volume journals.
func (s *Server) walkVolumes(ctx context.Context, secrets map[string]string, token string, max int32, visit visitFunc) (string, error) {
	if max < 0 {
		return "", toStatus(invalidArg("max_entries", "%d is negative", max))
	}
	creds, err := s.credentials(secrets)
	if err != nil {
		return "", err
	}
	ids, err := s.listClusters("")
	if err != nil {
		return "", toStatus(err)
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
	c, err := w.s.connect(ctx, fromID, "starting_token", clusterID, w.creds)
	if err != nil {
		return nil, err
	}
	return &volumeCluster{volumeWalker: w, c: c}, nil
}

// volumeCluster is one cluster of a listing: its pools are the locations.
type volumeCluster struct {
	*volumeWalker
	c *cluster
}

func (v *volumeCluster) Locations(ctx context.Context) ([]string, error) { return v.c.sess.Pools(ctx) }

func (v *volumeCluster) Journal(ctx context.Context, pool string) (*journal.Journal, error) {
	return v.s.journal(ctx, v.c, journal.Volumes, pool, pool)
}

func (v *volumeCluster) Close() { v.c.sess.Release() }

// Visit reads an entry's record (in its image's pool) and hands finished
// volumes to the visit function; unfinished, vanished or unparsable
// entries do not count.
func (v *volumeCluster) Visit(ctx context.Context, pool string, e journal.Entry) (bool, error) {
	if e.UUID == "" {
		return false, nil
	}
	id, imagePool, err := volumeIDOf(ctx, v.c, pool, e)
	if errors.Is(err, backend.ErrPoolNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	j, err := v.s.journal(ctx, v.c, journal.Volumes, pool, imagePool)
	if err != nil {
		return false, err
	}
	rec, err := j.Get(ctx, e.UUID)
	if errors.Is(err, journal.ErrNotFound) || (err == nil && rec.ImageID == "") {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return v.visit(ctx, v.c, imagePool, id, rec)
}
