package clusterconfig

import (
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"time"
)

// Store looks clusters up in a configuration file, re-reading it when it
// changes. It is safe for concurrent use.
//
// A change is noticed by comparing the modification time, size, device and
// inode that os.Stat reports for the path. Stat follows symlinks, so the
// atomic swap of the "..data" symlink by which Kubernetes updates a mounted
// ConfigMap is noticed as well as an in-place edit.
type Store struct {
	path     string
	interval time.Duration
	now      func() time.Time

	mu        sync.Mutex
	checked   time.Time // when the file was last stat'ed
	stamp     fileStamp // of the file the current state was read from
	haveStamp bool
	clusters  map[string]*Cluster
	invalid   map[string]error // cluster ID -> why its entry was refused
	err       error            // the error of the last check or load, if any
	loads     int              // number of times the file was read, for tests
}

// Option configures a Store.
type Option func(*Store)

// WithCheckInterval makes the store stat the file at most once per d,
// serving the configuration it last read (or the error it last got) in
// between. The default, 0, stats the file on every lookup.
func WithCheckInterval(d time.Duration) Option {
	return func(s *Store) { s.interval = d }
}

// NewStore returns a store for the configuration file at path, typically
// DefaultPath. The file is first read by the first lookup.
func NewStore(path string, opts ...Option) *Store {
	s := &Store{path: path, now: time.Now}
	for _, opt := range opts {
		opt(s)
	}

	return s
}

// Path returns the path of the configuration file.
func (s *Store) Path() string {
	return s.path
}

// Get returns a copy of the configuration of the cluster with the given ID.
// The error wraps ErrClusterNotFound if the file has no such cluster, and
// ErrConfig if the file cannot be read or is invalid, or if this cluster's
// own entry is invalid (then the error says why; other clusters still work).
func (s *Store) Get(clusterID string) (*Cluster, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	s.refresh()

	if s.err != nil {
		return nil, s.err
	}

	if err, bad := s.invalid[clusterID]; bad {
		return nil, s.configError(err)
	}

	c, ok := s.clusters[clusterID]
	if !ok {
		return nil, fmt.Errorf("clusterID %q: %w %s", clusterID, ErrClusterNotFound, s.path)
	}

	return c.clone(), nil
}

// Clusters returns a copy of every cluster in the configuration, sorted by
// cluster ID, for callers that must visit them all (e.g. listing snapshots
// without a volume ID). Invalid entries are left out. The error wraps
// ErrConfig if the file cannot be read or is not a JSON array.
func (s *Store) Clusters() ([]*Cluster, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	s.refresh()

	if s.err != nil {
		return nil, s.err
	}

	out := make([]*Cluster, 0, len(s.clusters))
	for _, c := range s.clusters {
		out = append(out, c.clone())
	}

	sort.Slice(out, func(i, j int) bool { return out[i].ClusterID < out[j].ClusterID })

	return out, nil
}

// refresh re-reads the file if it is due for a check and changed.
func (s *Store) refresh() {
	now := s.now()
	if s.interval > 0 && !s.checked.IsZero() && now.Sub(s.checked) < s.interval {
		return
	}

	s.checked = now

	fi, err := os.Stat(s.path)
	if err != nil {
		s.fail(err)

		return
	}

	if s.haveStamp && stampOf(fi) == s.stamp {
		return
	}

	s.load()
}

// load reads and parses the file. The stamp is taken from the open file, so
// it describes exactly what was read even if the path changes meanwhile.
func (s *Store) load() {
	s.loads++

	f, err := os.Open(s.path)
	if err != nil {
		s.fail(err)

		return
	}
	defer f.Close()

	fi, err := f.Stat()
	if err != nil {
		s.fail(err)

		return
	}

	clusters, invalid, err := readClusters(f)

	s.stamp, s.haveStamp = stampOf(fi), true
	if err != nil {
		s.clusters, s.invalid, s.err = nil, nil, s.configError(err)

		return
	}

	s.clusters, s.invalid, s.err = clusters, invalid, nil
}

// fail records an error that leaves no file to compare against, so the
// next check reads the file again.
func (s *Store) fail(err error) {
	s.clusters, s.haveStamp, s.err = nil, false, s.configError(err)
}

func (s *Store) configError(err error) error {
	return fmt.Errorf("%w %s: %w", ErrConfig, s.path, err)
}

func readClusters(r io.Reader) (map[string]*Cluster, map[string]error, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, err
	}

	f, err := ParseFile(data)
	if err != nil {
		return nil, nil, err
	}

	clusters := make(map[string]*Cluster, len(f.Clusters))
	for i := range f.Clusters {
		clusters[f.Clusters[i].ClusterID] = &f.Clusters[i]
	}

	return clusters, f.Invalid, nil
}
