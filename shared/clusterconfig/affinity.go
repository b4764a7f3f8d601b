package clusterconfig

import (
	"sort"
	"strings"
)

// ReadAffinityOptions returns ceph-csi's read-affinity options for a node
// of the cluster, for krbd maps and kernel CephFS mounts:
// "read_from_replica=localize,crush_location=TYPE:VALUE|..." from the node
// labels that readAffinity.crushLocationLabels name (else fallbackLabels,
// the node plugin's own list), or "" when read affinity is off or no label
// matches. As in ceph-csi, the CRUSH type is the label's name after its
// prefix ("hostname" becomes "host") and dots in values become dashes. The
// pairs are sorted, so the option is stable.
func (c *Cluster) ReadAffinityOptions(fallbackLabels []string, nodeLabels map[string]string) string {
	if !c.ReadAffinity.Enabled {
		return ""
	}
	labels := c.ReadAffinity.CrushLocationLabels
	if len(labels) == 0 {
		labels = fallbackLabels
	}
	loc := map[string]string{}
	for _, l := range labels {
		v := strings.TrimSpace(nodeLabels[l])
		if v == "" {
			continue
		}
		typ := strings.TrimSpace(l[strings.LastIndex(l, "/")+1:])
		if typ == "hostname" {
			typ = "host"
		}
		loc[typ] = strings.ReplaceAll(v, ".", "-")
	}
	if len(loc) == 0 {
		return ""
	}
	pairs := make([]string, 0, len(loc))
	for k, v := range loc {
		pairs = append(pairs, k+":"+v)
	}
	sort.Strings(pairs)
	return "read_from_replica=localize,crush_location=" + strings.Join(pairs, "|")
}
