package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// topologyPool is one entry of the topologyConstrainedPools parameter, in
// ceph-csi's JSON format: the pools to use for volumes accessible from
// the topology the domain segments describe.
type topologyPool struct {
	PoolName       string          `json:"poolName"`
	DataPool       string          `json:"dataPool"`
	DomainSegments []domainSegment `json:"domainSegments"`
}

type domainSegment struct {
	DomainLabel string `json:"domainLabel"`
	Value       string `json:"value"`
}

// parseTopologyPools validates the topologyConstrainedPools parameter
// ("" : none).
func parseTopologyPools(s string) ([]topologyPool, error) {
	if s == "" {
		return nil, nil
	}
	var pools []topologyPool
	if err := json.Unmarshal([]byte(s), &pools); err != nil {
		return nil, invalidArg("parameters."+paramTopologyPools, "is not a JSON list of "+
			`{"poolName", "dataPool", "domainSegments": [{"domainLabel", "value"}]}: %v`, err)
	}
	if len(pools) == 0 {
		return nil, invalidArg("parameters."+paramTopologyPools, "lists no pool")
	}
	for i, p := range pools {
		field := fmt.Sprintf("%s[%d]", paramTopologyPools, i)
		if p.PoolName == "" {
			return nil, invalidArg("parameters."+field+".poolName", "is required")
		}
		if err := checkName(field+".poolName", p.PoolName); err != nil {
			return nil, err
		}
		if err := checkName(field+".dataPool", p.DataPool); err != nil {
			return nil, err
		}
		for k, d := range p.DomainSegments {
			if d.DomainLabel == "" || d.Value == "" {
				return nil, invalidArg(fmt.Sprintf("parameters.%s.domainSegments[%d]", field, k),
					"needs domainLabel and value")
			}
		}
	}
	return pools, nil
}

// domains maps the domains of a topology's segments to their values: the
// part of a segment key after its first '/' (topology.rbd.csi.ceph.com/zone
// is the domain zone), as ceph-csi matches them.
func domains(t *csi.Topology) map[string]string {
	out := map[string]string{}
	for k, v := range t.GetSegments() {
		out[k[strings.IndexRune(k, '/')+1:]] = v
	}
	return out
}

// matches reports whether every domain segment of p is in topology t.
func (p *topologyPool) matches(t *csi.Topology) bool {
	d := domains(t)
	for _, s := range p.DomainSegments {
		if v, ok := d[s.DomainLabel]; !ok || v != s.Value {
			return false
		}
	}
	return true
}

// requirementTopologies are the preferred topologies, then the requisite
// ones: the order in which pools are matched.
func requirementTopologies(r *csi.TopologyRequirement) []*csi.Topology {
	return append(append([]*csi.Topology(nil), r.GetPreferred()...), r.GetRequisite()...)
}

// choosePool picks the first pool matching the first topology that any
// pool matches, preferred topologies first; it returns that topology too.
func choosePool(pools []topologyPool, r *csi.TopologyRequirement) (*topologyPool, *csi.Topology) {
	for _, t := range requirementTopologies(r) {
		for i := range pools {
			if pools[i].matches(t) {
				return &pools[i], t
			}
		}
	}
	return nil, nil
}

// noTopologyMatch is the ResourceExhausted error of a request no pool can
// serve.
func noTopologyMatch(what string, r *csi.TopologyRequirement) error {
	return status.Errorf(codes.ResourceExhausted, "%s matches none of accessibility_requirements %v",
		what, requirementTopologies(r))
}

// place applies topologyConstrainedPools to a plan: a new empty volume
// goes to the pool matching the accessibility requirements (preferred
// first, then requisite; none: ResourceExhausted), a clone or restore
// stays in its source's pool. The journal goes to the chosen pool too, as
// ceph-csi v3.11+ does; the StorageClass's pool, when set and different,
// is only where a retry also looks (scPool: earlier layouts). Without the
// parameter or without requirements the plan is left alone.
func (s *Server) place(ctx context.Context, c *cluster, p *createPlan) error {
	pools, req := p.params.TopologyPools, p.requirements
	if len(pools) == 0 || req == nil {
		if p.params.Pool == "" {
			return invalidArg("parameters."+paramPool, "is required without accessibility_requirements")
		}
		return nil
	}
	if p.source != nil {
		return s.placeWithSource(ctx, c, p)
	}
	tp, t := choosePool(pools, req)
	if tp == nil {
		return noTopologyMatch("no pool of parameters."+paramTopologyPools, req)
	}
	p.usePool(tp.PoolName, tp.DataPool, t)
	return nil
}

// placeWithSource keeps a clone or restore in its source's pool; when that
// pool is one of the topology pools, it must match the requirements.
func (s *Server) placeWithSource(ctx context.Context, c *cluster, p *createPlan) error {
	field, id := "volume_content_source.volume.volume_id", p.source.GetVolume().GetVolumeId()
	if sid := p.source.GetSnapshot().GetSnapshotId(); sid != "" {
		field, id = "volume_content_source.snapshot.snapshot_id", sid
	}
	vid, err := sameCluster(field, id, p.params.ClusterID)
	if err != nil {
		return err
	}
	pool, err := c.sess.PoolName(ctx, vid.LocationID)
	if err != nil {
		return missingAsNotFound(field, lookupError(fromID, field, err))
	}
	for i := range p.params.TopologyPools {
		tp := &p.params.TopologyPools[i]
		if tp.PoolName != pool {
			continue
		}
		for _, t := range requirementTopologies(p.requirements) {
			if tp.matches(t) {
				p.usePool(pool, tp.DataPool, t)
				return nil
			}
		}
		return noTopologyMatch(fmt.Sprintf("the source's pool %q", pool), p.requirements)
	}
	p.usePool(pool, p.params.DataPool, nil)
	return nil
}

// usePool sets the image pool, data pool and accessible topology of a
// plan; a different StorageClass pool is remembered as scPool.
func (p *createPlan) usePool(pool, dataPool string, t *csi.Topology) {
	if p.params.Pool != "" && p.params.Pool != pool {
		p.scPool = p.params.Pool
	}
	p.params.Pool, p.params.DataPool = pool, dataPool
	if t != nil {
		p.topology = []*csi.Topology{t}
	}
}
