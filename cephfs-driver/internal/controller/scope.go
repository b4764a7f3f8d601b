package controller

import (
	"context"
	"fmt"
	"sync"

	"google.golang.org/grpc/codes"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// scope is everything one request needs about one file system: the
// cluster settings, the file system, a backend session and both journals.
type scope struct {
	cluster *clusterconfig.Cluster
	fs      backend.FileSystem
	group   string
	be      backend.Backend
	store   backend.ObjectStore
	vols    *journal.Journal
	snaps   *journal.Journal
	groups  *journal.Groups
	close   func()
}

// subvolume names a subvolume of the scope's group.
func (sc *scope) subvolume(name string) backend.SubvolumeRef {
	return backend.SubvolumeRef{FS: sc.fs.Name, Group: sc.group, Name: name}
}

// snapshot names a snapshot of a subvolume of the scope's group.
func (sc *scope) snapshot(subvolume, snap string) backend.SnapshotRef {
	return backend.SnapshotRef{SubvolumeRef: sc.subvolume(subvolume), Snapshot: snap}
}

// encodeID encodes a CSI ID of this file system.
func (sc *scope) encodeID(uuid string) (string, error) {
	return volid.ID{ClusterID: sc.cluster.ClusterID, LocationID: sc.fs.ID, UUID: uuid}.Encode()
}

// fsKey identifies a file system in the cache.
type fsKey struct {
	cluster string
	name    string
	id      int64
}

// fsCache remembers file systems (name, ID, pools), which never change
// for the life of a file system. A lookup that misses refreshes the entry.
type fsCache struct {
	mu sync.Mutex
	m  map[fsKey]backend.FileSystem
}

func newFSCache() *fsCache { return &fsCache{m: map[fsKey]backend.FileSystem{}} }

// find returns the file system of cluster named name (when name != "") or
// with ID id, listing the file systems when the cache misses.
func (c *fsCache) find(ctx context.Context, be backend.Backend, cluster, name string, id int64) (backend.FileSystem, error) {
	key := fsKey{cluster: cluster, name: name, id: id}
	if name != "" {
		key.id = -1
	}
	c.mu.Lock()
	fs, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return fs, nil
	}
	list, err := be.FileSystems(ctx)
	if err != nil {
		return backend.FileSystem{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range list {
		c.m[fsKey{cluster: cluster, name: f.Name, id: -1}] = f
		c.m[fsKey{cluster: cluster, id: f.ID}] = f
	}
	if fs, ok := c.m[key]; ok {
		return fs, nil
	}
	if name != "" {
		return backend.FileSystem{}, &backend.Error{Op: "find file system", Object: name,
			Kind: backend.ErrNotFound, Err: fmt.Errorf("no file system named %q", name)}
	}
	return backend.FileSystem{}, &backend.Error{Op: "find file system", Object: fmt.Sprint(id),
		Kind: backend.ErrNotFound, Err: fmt.Errorf("no file system with ID %d", id)}
}

// connect opens a session on the cluster as creds.
func (s *Server) connect(ctx context.Context, cluster *clusterconfig.Cluster, creds *credentials.Credentials) (backend.Session, error) {
	return s.cfg.Connector.Connect(ctx, backend.Target{ClusterID: cluster.ClusterID, Monitors: cluster.Monitors, Creds: creds})
}

// openScope connects and opens the journals of file system fs.
func (s *Server) openScope(sess backend.Session, cluster *clusterconfig.Cluster, fs backend.FileSystem) (*scope, error) {
	store, release, err := sess.ObjectStore(fs.MetadataPool, cluster.CephFS.RadosNamespace)
	if err != nil {
		sess.Release()
		return nil, toStatus(fmt.Errorf("open journal in pool %s: %w", fs.MetadataPool, err))
	}
	return &scope{
		cluster: cluster,
		fs:      fs,
		group:   cluster.CephFS.SubvolumeGroup,
		be:      sess.Backend(),
		store:   store,
		vols:    journal.New(store, journal.Options{Kind: journal.Volumes, Instance: s.cfg.InstanceID}),
		snaps:   journal.New(store, journal.Options{Kind: journal.Snapshots, Instance: s.cfg.InstanceID}),
		groups:  journal.NewGroups(store, journal.GroupOptions{Instance: s.cfg.InstanceID, Now: s.now}),
		close:   func() { release(); sess.Release() },
	}, nil
}

// scopeByName opens the scope of file system fsName on cluster clusterID,
// both given as CreateVolume (or GetCapacity) parameters: unknown ones are
// InvalidArgument errors naming the parameter.
func (s *Server) scopeByName(ctx context.Context, clusterID, fsName string, creds *credentials.Credentials) (*scope, error) {
	cluster, err := s.cfg.Clusters.Get(clusterID)
	if err != nil {
		return nil, clusterError(err, "parameter "+paramClusterID, codes.InvalidArgument)
	}
	sess, err := s.connect(ctx, cluster, creds)
	if err != nil {
		return nil, toStatus(err)
	}
	fs, err := s.fs.find(ctx, sess.Backend(), cluster.ClusterID, fsName, 0)
	if err != nil {
		sess.Release()
		return nil, fsError(err, "parameter "+paramFSName, codes.InvalidArgument)
	}
	return s.openScope(sess, cluster, fs)
}

// unknownCodes are the codes of an ID whose cluster or file system is
// unknown.
type unknownCodes struct {
	cluster codes.Code
	fs      codes.Code
}

// notFound reports both as NotFound.
var notFound = unknownCodes{cluster: codes.NotFound, fs: codes.NotFound}

// scopeByID opens the scope of the file system a decoded CSI ID names.
// what names the ID's field in errors.
func (s *Server) scopeByID(ctx context.Context, id volid.ID, what string, creds *credentials.Credentials, unknown unknownCodes) (*scope, error) {
	cluster, err := s.cfg.Clusters.Get(id.ClusterID)
	if err != nil {
		return nil, clusterError(err, what, unknown.cluster)
	}
	sess, err := s.connect(ctx, cluster, creds)
	if err != nil {
		return nil, toStatus(err)
	}
	fs, err := s.fs.find(ctx, sess.Backend(), cluster.ClusterID, "", id.LocationID)
	if err != nil {
		sess.Release()
		return nil, fsError(err, what, unknown.fs)
	}
	return s.openScope(sess, cluster, fs)
}
