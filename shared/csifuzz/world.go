package csifuzz

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
)

// Clusters is a fixed cluster configuration for a target's server, by
// cluster ID. Get and Clusters hand out copies, so a server cannot change
// the configuration of later cases.
type Clusters map[string]*clusterconfig.Cluster

// Get returns a copy of the cluster id, or an error that wraps
// clusterconfig.ErrClusterNotFound.
func (c Clusters) Get(id string) (*clusterconfig.Cluster, error) {
	if cl, ok := c[id]; ok {
		cc := *cl
		return &cc, nil
	}
	return nil, fmt.Errorf("clusterID %q: %w", id, clusterconfig.ErrClusterNotFound)
}

// Clusters returns copies of every cluster, by ID.
func (c Clusters) Clusters() ([]*clusterconfig.Cluster, error) {
	out := make([]*clusterconfig.Cluster, 0, len(c))
	for _, id := range slices.Sorted(maps.Keys(c)) {
		cc := *c[id]
		out = append(out, &cc)
	}
	return out, nil
}

// ObjectStore is the part of a journal object store (shared/journal.Store)
// Omaps reads.
type ObjectStore interface {
	ListObjects(ctx context.Context, prefix string) ([]string, error)
	ListOmap(ctx context.Context, oid, prefix string) (map[string]string, error)
}

// Omaps describes every object of st with its omap, one line per object,
// the pairs in key order, for an inventory.
func Omaps(ctx context.Context, st ObjectStore) string {
	names, err := st.ListObjects(ctx, "")
	var b strings.Builder
	if err != nil {
		fmt.Fprintf(&b, "objects error %v\n", err)
	}
	for _, n := range names {
		kv, err := st.ListOmap(ctx, n, "")
		pairs := make([]string, 0, len(kv))
		for _, k := range slices.Sorted(maps.Keys(kv)) {
			pairs = append(pairs, k+"="+kv[k])
		}
		fmt.Fprintf(&b, "object %s %v", n, pairs)
		if err != nil {
			fmt.Fprintf(&b, " error %v", err)
		}
		b.WriteString("\n")
	}
	return b.String()
}
