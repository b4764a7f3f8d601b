package nodelabels

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
)

// Flag help shared by both node plugins' --node-labels and
// --crush-location-labels.
const (
	NodeLabelsHelp = "this node's labels key=value[,key=value...] for read affinity (the CRUSH location of krbd maps " +
		"and kernel CephFS mounts); empty: read from the node's Kubernetes Node at start when read affinity is " +
		"configured (RBAC: get nodes; if the API cannot be reached the plugin logs an error and runs without " +
		"read affinity)"
	CrushLocationLabelsHelp = "node labels giving the CRUSH location when config.json's readAffinity has no " +
		"crushLocationLabels (comma-separated); setting it makes the plugin read its Node's labels at start " +
		"unless --node-labels is given"
)

// DefaultAffinityTimeout bounds the read of the Node's labels at start.
const DefaultAffinityTimeout = 30 * time.Second

// Affinity is what decides where a node plugin's read-affinity labels
// come from.
type Affinity struct {
	// NodeName is the Kubernetes Node (the CSI node ID).
	NodeName string
	// Static are the --node-labels; when set they are used as they are.
	Static map[string]string
	// CrushLocationLabels are the --crush-location-labels.
	CrushLocationLabels []string
	// Clusters is config.json; read affinity applies when an entry has
	// readAffinity enabled (nil: none).
	Clusters *clusterconfig.Store
	// API reads the Node; nil: the in-cluster API server.
	API *Client
	// Timeout bounds the read; 0 means DefaultAffinityTimeout.
	Timeout time.Duration
	Logger  *zap.Logger
}

// Wanted reports whether read affinity can apply: --crush-location-labels
// is set or a config.json entry has readAffinity enabled. It is decided at
// start: enabling readAffinity in config.json later, without
// --crush-location-labels or --node-labels, takes a restart.
func (a *Affinity) Wanted() bool {
	if len(a.CrushLocationLabels) > 0 {
		return true
	}
	if a.Clusters == nil {
		return false
	}
	clusters, err := a.Clusters.Clusters()
	if err != nil {
		return false
	}
	for _, c := range clusters {
		if c.ReadAffinity.Enabled {
			return true
		}
	}
	return false
}

// Labels returns the node labels read affinity takes the CRUSH location
// from: Static when given (non-Kubernetes use); else, when read affinity
// can apply, the Node's labels read once through the API. A failed read
// is logged as an error and gives no labels: the plugin runs without read
// affinity rather than refusing to start.
func (a *Affinity) Labels(ctx context.Context) map[string]string {
	if len(a.Static) > 0 || !a.Wanted() {
		return a.Static
	}
	logger := a.Logger
	if logger == nil {
		logger = zap.NewNop()
	}
	labels, err := a.fetch(ctx)
	if err != nil {
		logger.Error("read affinity disabled: cannot read the node's labels", zap.String("node", a.NodeName), zap.Error(err))
		return nil
	}
	logger.Info("read affinity: node labels read from the Kubernetes API", zap.String("node", a.NodeName),
		zap.Int("labels", len(labels)))
	return labels
}

func (a *Affinity) fetch(ctx context.Context) (map[string]string, error) {
	api := a.API
	if api == nil {
		var err error
		if api, err = InCluster(ServiceAccountDir); err != nil {
			return nil, err
		}
	}
	timeout := a.Timeout
	if timeout <= 0 {
		timeout = DefaultAffinityTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return api.Labels(ctx, a.NodeName)
}
