// Package clusterconfig reads the cluster configuration file that ceph-csi
// users already have (by default /etc/ceph-csi-config/config.json, mounted
// from a ConfigMap): a JSON array of clusters, each with its ID, monitors and
// RBD and CephFS settings. Fields this package does not know are ignored.
//
// A [Store] looks clusters up per request and re-reads the file whenever it
// changed, so edits to the ConfigMap take effect without a restart.
//
// When the file cannot be read or is not a JSON array, lookups fail with
// [ErrConfig] until it is fixed; one bad entry fails only the lookups of its
// own cluster ID (with ErrConfig and the reason), as in ceph-csi: the store does not keep serving the last good
// configuration, because silently using stale monitors or settings is worse
// than a clear error. The package does not log and does not pick gRPC codes;
// callers map [ErrConfig] and [ErrClusterNotFound] to the status code the CSI
// specification prescribes for their RPC.
package clusterconfig

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// DefaultPath is where ceph-csi deployments mount the configuration file.
const DefaultPath = "/etc/ceph-csi-config/config.json"

// Defaults applied to CephFS settings left empty, as in ceph-csi.
const (
	DefaultSubvolumeGroup       = "csi"
	DefaultCephFSRadosNamespace = "csi"
)

var (
	// ErrClusterNotFound is wrapped by the error of a lookup whose cluster ID
	// is not in the configuration.
	ErrClusterNotFound = errors.New("cluster ID not found in the cluster configuration")

	// ErrConfig is wrapped by errors about a configuration file that cannot
	// be read or is invalid.
	ErrConfig = errors.New("invalid cluster configuration")
)

// Cluster is the configuration of one Ceph cluster.
type Cluster struct {
	// ClusterID identifies the cluster in storage classes and volume IDs.
	ClusterID string `json:"clusterID"`
	// Monitors are the monitor addresses, e.g. "10.0.0.1:6789".
	Monitors []string `json:"monitors"`
	// RBD holds the RBD driver's settings.
	RBD RBDConfig `json:"rbd"`
	// CephFS holds the CephFS driver's settings.
	CephFS CephFSConfig `json:"cephFS"`
	// CephFSNode holds the CephFS node plugin's settings, from the same
	// "cephFS" object (see UnmarshalJSON).
	CephFSNode CephFSNodeConfig `json:"-"`
	// ReadAffinity makes krbd read from the OSD closest to the node.
	ReadAffinity ReadAffinity `json:"readAffinity"`
}

// CephFSNodeConfig holds what a node does when it mounts a CephFS volume
// of the cluster, as in ceph-csi's config.json.
type CephFSNodeConfig struct {
	// KernelMountOptions and FuseMountOptions are added to every kernel
	// and ceph-fuse mount ("opt1,opt2=val"); the StorageClass's options
	// come after them.
	KernelMountOptions string `json:"kernelMountOptions"`
	FuseMountOptions   string `json:"fuseMountOptions"`
	// NetNamespaceFilePath, when set, is the network namespace the mounts
	// run in (nsenter --net).
	NetNamespaceFilePath string `json:"netNamespaceFilePath"`
}

// ReadAffinity is ceph-csi's readAffinity: with Enabled, krbd maps get
// read_from_replica=localize and the node's CRUSH location, read from the
// node labels CrushLocationLabels name (e.g. topology.kubernetes.io/zone).
type ReadAffinity struct {
	Enabled             bool     `json:"enabled"`
	CrushLocationLabels []string `json:"crushLocationLabels"`
}

// UnmarshalJSON decodes an entry, filling CephFSNode from the "cephFS"
// object too.
func (c *Cluster) UnmarshalJSON(b []byte) error {
	type plain Cluster
	var node struct {
		CephFS CephFSNodeConfig `json:"cephFS"`
	}
	if err := json.Unmarshal(b, (*plain)(c)); err != nil {
		return err
	}
	if err := json.Unmarshal(b, &node); err != nil {
		return err
	}
	c.CephFSNode = node.CephFS
	return nil
}

// RBDConfig holds a cluster's RBD settings.
type RBDConfig struct {
	// RadosNamespace is the RADOS namespace for images and the journal;
	// empty means the default namespace.
	RadosNamespace string `json:"radosNamespace"`
	// NetNamespaceFilePath, when set, is the network namespace the node
	// maps images in (nsenter --net), e.g. for Multus.
	NetNamespaceFilePath string `json:"netNamespaceFilePath"`
}

// CephFSConfig holds a cluster's CephFS settings.
type CephFSConfig struct {
	// SubvolumeGroup holds the subvolumes; DefaultSubvolumeGroup if unset.
	SubvolumeGroup string `json:"subvolumeGroup"`
	// RadosNamespace is the metadata pool namespace of the journal;
	// DefaultCephFSRadosNamespace if unset.
	RadosNamespace string `json:"radosNamespace"`
}

// MonitorsString returns the monitors joined by commas, as Ceph's mon_host
// option and the kernel clients take them.
func (c *Cluster) MonitorsString() string {
	return strings.Join(c.Monitors, ",")
}

// clone returns a deep copy of c, so callers cannot change the store.
func (c *Cluster) clone() *Cluster {
	cc := *c
	cc.Monitors = slices.Clone(c.Monitors)
	cc.ReadAffinity.CrushLocationLabels = slices.Clone(c.ReadAffinity.CrushLocationLabels)

	return &cc
}

// Parse decodes a configuration file and returns its usable entries, with
// the defaults applied. Only a file that is not a JSON array of entries is
// an error. As in ceph-csi, one bad entry does not spoil the others: an
// entry without a cluster ID or without monitors, and a later entry reusing
// a cluster ID (the first one wins), are left out; [ParseFile] says why.
func Parse(data []byte) ([]Cluster, error) {
	f, err := ParseFile(data)
	if err != nil {
		return nil, err
	}

	return f.Clusters, nil
}

// File is a parsed configuration file.
type File struct {
	// Clusters are the usable entries, in file order.
	Clusters []Cluster
	// Invalid maps the cluster ID of each refused entry that a lookup can
	// name to the reason it was refused; using that cluster ID fails with
	// it. Only the first entry of a cluster ID counts.
	Invalid map[string]error
	// Ignored describes entries that no lookup can reach: entries without
	// a cluster ID and later duplicates of a cluster ID.
	Ignored []string
}

// ParseFile decodes a configuration file entry by entry. Only a file that
// is not a JSON array of entries is an error.
func ParseFile(data []byte) (*File, error) {
	var entries []Cluster
	if err := json.Unmarshal(data, &entries); err != nil {
		return nil, fmt.Errorf("decoding JSON: %w", err)
	}

	f := &File{Clusters: []Cluster{}, Invalid: map[string]error{}}
	seen := make(map[string]int, len(entries))

	for i := range entries {
		c := &entries[i]
		if c.ClusterID == "" {
			f.Ignored = append(f.Ignored, fmt.Sprintf("entry %d: empty clusterID", i))

			continue
		}

		if first, dup := seen[c.ClusterID]; dup {
			f.Ignored = append(f.Ignored,
				fmt.Sprintf("entry %d: clusterID %q already used by entry %d (the first one is used)", i, c.ClusterID, first))

			continue
		}

		seen[c.ClusterID] = i

		if err := validate(i, c); err != nil {
			f.Invalid[c.ClusterID] = err

			continue
		}

		applyDefaults(c)
		f.Clusters = append(f.Clusters, *c)
	}

	return f, nil
}

// validate checks entry i of the file.
func validate(i int, c *Cluster) error {
	if len(c.Monitors) == 0 {
		return fmt.Errorf("entry %d (clusterID %q): no monitors", i, c.ClusterID)
	}

	for j, m := range c.Monitors {
		if strings.TrimSpace(m) == "" {
			return fmt.Errorf("entry %d (clusterID %q): monitor %d is empty", i, c.ClusterID, j)
		}
	}

	return nil
}

func applyDefaults(c *Cluster) {
	if c.CephFS.SubvolumeGroup == "" {
		c.CephFS.SubvolumeGroup = DefaultSubvolumeGroup
	}

	if c.CephFS.RadosNamespace == "" {
		c.CephFS.RadosNamespace = DefaultCephFSRadosNamespace
	}
}
