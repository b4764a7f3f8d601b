package controller

import (
	"context"
	"errors"
	"sort"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// ListSnapshots lists the snapshots of this driver instance from the
// journals: one snapshot (snapshot_id), those of one volume
// (source_volume_id), or every snapshot of every file system of every
// configured cluster. Entries are sorted by ID; the starting token is the
// ID of the first entry of the page, so deleting entries between pages
// skips nothing.
func (s *Server) ListSnapshots(ctx context.Context, req *csi.ListSnapshotsRequest) (*csi.ListSnapshotsResponse, error) {
	if req.GetMaxEntries() < 0 {
		return nil, status.Errorf(codes.InvalidArgument, "max_entries: %d is negative", req.GetMaxEntries())
	}
	if t := req.GetStartingToken(); t != "" {
		if _, err := volid.Decode(t); err != nil {
			return nil, status.Errorf(codes.Aborted, "starting_token %q: not a token of this driver", t)
		}
	}
	creds, err := credentials.ForCephFSAdmin(req.GetSecrets())
	if err != nil {
		return nil, err
	}
	var snaps []*csi.Snapshot
	switch {
	case req.GetSnapshotId() != "":
		snaps, err = s.listOne(ctx, req.GetSnapshotId(), creds)
	case req.GetSourceVolumeId() != "":
		snaps, err = s.listOfVolume(ctx, req.GetSourceVolumeId(), creds)
	default:
		snaps, err = s.listAll(ctx, creds)
	}
	if err != nil {
		return nil, toStatus(err)
	}
	if v := req.GetSourceVolumeId(); v != "" {
		snaps = filterBySource(snaps, v)
	}
	return page(snaps, req.GetStartingToken(), int(req.GetMaxEntries())), nil
}

// GetSnapshot returns one snapshot; NotFound if it does not exist.
func (s *Server) GetSnapshot(ctx context.Context, req *csi.GetSnapshotRequest) (*csi.GetSnapshotResponse, error) {
	if req.GetSnapshotId() == "" {
		return nil, status.Error(codes.InvalidArgument, "snapshot_id: missing")
	}
	creds, err := credentials.ForCephFSAdmin(req.GetSecrets())
	if err != nil {
		return nil, err
	}
	snaps, err := s.listOne(ctx, req.GetSnapshotId(), creds)
	if err != nil {
		return nil, toStatus(err)
	}
	if len(snaps) == 0 {
		return nil, status.Errorf(codes.NotFound, "snapshot_id %q: not found", req.GetSnapshotId())
	}
	return &csi.GetSnapshotResponse{Snapshot: snaps[0]}, nil
}

// listOne returns the snapshot with ID id, or nothing if it does not exist.
func (s *Server) listOne(ctx context.Context, id string, creds *credentials.Credentials) ([]*csi.Snapshot, error) {
	parsed, err := volid.Decode(id)
	if err != nil {
		return nil, nil
	}
	sc, err := s.scopeByID(ctx, parsed, "snapshot_id", creds, notFound)
	if status.Code(err) == codes.NotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer sc.close()
	rec, err := sc.snaps.Get(ctx, parsed.UUID)
	if errors.Is(err, journal.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	snap, err := snapshotOf(ctx, sc, rec)
	if errors.Is(err, errSnapshotNotReady) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return []*csi.Snapshot{snap}, nil
}

// listOfVolume returns the snapshots of the file system of volume volID.
func (s *Server) listOfVolume(ctx context.Context, volID string, creds *credentials.Credentials) ([]*csi.Snapshot, error) {
	parsed, err := volid.Decode(volID)
	if err != nil {
		return nil, nil
	}
	sc, err := s.scopeByID(ctx, parsed, "source_volume_id", creds, notFound)
	if status.Code(err) == codes.NotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer sc.close()
	return listJournal(ctx, sc)
}

// listAll returns the snapshots of every file system of every cluster.
func (s *Server) listAll(ctx context.Context, creds *credentials.Credentials) ([]*csi.Snapshot, error) {
	clusters, err := s.cfg.Clusters.Clusters()
	if err != nil {
		return nil, err
	}
	var all []*csi.Snapshot
	for _, c := range clusters {
		snaps, err := s.listCluster(ctx, c, creds)
		if err != nil {
			return nil, err
		}
		all = append(all, snaps...)
	}
	return all, nil
}

func (s *Server) listCluster(ctx context.Context, c *clusterconfig.Cluster, creds *credentials.Credentials) ([]*csi.Snapshot, error) {
	sess, err := s.connect(ctx, c, creds)
	if err != nil {
		return nil, err
	}
	defer sess.Release()
	fss, err := sess.Backend().FileSystems(ctx)
	if err != nil {
		return nil, err
	}
	var all []*csi.Snapshot
	for _, fs := range fss {
		store, release, err := sess.ObjectStore(fs.MetadataPool, c.CephFS.RadosNamespace)
		if err != nil {
			return nil, err
		}
		sc := &scope{cluster: c, fs: fs, group: c.CephFS.SubvolumeGroup, store: store, be: sess.Backend(),
			snaps: journal.New(store, journal.Options{Kind: journal.Snapshots, Instance: s.cfg.InstanceID})}
		snaps, err := listJournal(ctx, sc)
		release()
		if err != nil {
			return nil, err
		}
		all = append(all, snaps...)
	}
	return all, nil
}

// listJournal returns the completed snapshots of a scope's journal.
func listJournal(ctx context.Context, sc *scope) ([]*csi.Snapshot, error) {
	entries, err := sc.snaps.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*csi.Snapshot, 0, len(entries))
	for _, e := range entries {
		if e.UUID == "" {
			continue
		}
		rec, err := sc.snaps.Get(ctx, e.UUID)
		if errors.Is(err, journal.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		snap, err := snapshotOf(ctx, sc, rec)
		if errors.Is(err, errSnapshotNotReady) {
			continue // creation not finished
		}
		if err != nil {
			return nil, err
		}
		out = append(out, snap)
	}
	return out, nil
}

func filterBySource(snaps []*csi.Snapshot, volID string) []*csi.Snapshot {
	out := snaps[:0]
	for _, s := range snaps {
		if s.GetSourceVolumeId() == volID {
			out = append(out, s)
		}
	}
	return out
}

// page sorts snaps by ID and returns those from token on, at most max
// (0: all), with the next page's token.
func page(snaps []*csi.Snapshot, token string, maxEntries int) *csi.ListSnapshotsResponse {
	sort.Slice(snaps, func(i, j int) bool { return snaps[i].GetSnapshotId() < snaps[j].GetSnapshotId() })
	start := sort.Search(len(snaps), func(i int) bool { return snaps[i].GetSnapshotId() >= token })
	snaps = snaps[start:]
	resp := &csi.ListSnapshotsResponse{}
	if maxEntries > 0 && len(snaps) > maxEntries {
		resp.NextToken = snaps[maxEntries].GetSnapshotId()
		snaps = snaps[:maxEntries]
	}
	for _, s := range snaps {
		resp.Entries = append(resp.Entries, &csi.ListSnapshotsResponse_Entry{Snapshot: s})
	}
	return resp
}
