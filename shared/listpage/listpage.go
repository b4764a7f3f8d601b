// Package listpage pages through the volume journals of several clusters
// and locations (RBD pools, CephFS file systems) for ListVolumes and
// ControllerListVolumeHealth: clusters in the order given (the
// configuration's, sorted by ID), locations in name order, journal
// entries in request-name order, read a bounded omap slice at a time
// (journal.Page). A location whose journal the user may not read
// (journal.ErrStoreDenied) is skipped. The page token is the position of
// the last entry returned, so a token stays valid when that entry is
// deleted and volumes added behind it are found.
package listpage

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"sort"

	"github.com/seed-6a310834/ceph-csi/shared/journal"
)

// ErrBadToken means a starting token is not one this package issued, or
// names a cluster that is no longer configured (CSI: Aborted).
var ErrBadToken = errors.New("listpage: invalid starting token")

// batch is how many journal entries one omap read returns.
const batch = 256

// cursor is the position after which a page starts.
type cursor struct {
	Cluster  string `json:"c"`
	Location string `json:"l"`
	After    string `json:"a"`
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c) // plain strings: cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

func decode(token string) (cursor, error) {
	var c cursor
	if token == "" {
		return c, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || json.Unmarshal(b, &c) != nil || c.Cluster == "" || c.Location == "" {
		return cursor{}, ErrBadToken
	}
	return c, nil
}

// Cluster is one cluster's part of a walk.
type Cluster interface {
	// Locations lists the names of the places holding volume journals.
	Locations(ctx context.Context) ([]string, error)
	// Journal returns the volume journal of a location.
	Journal(ctx context.Context, location string) (*journal.Journal, error)
	// Visit handles one entry and says whether it counts toward the page
	// (false: skipped, e.g. an unfinished record).
	Visit(ctx context.Context, location string, e journal.Entry) (bool, error)
	// Close releases the cluster's session.
	Close()
}

// Walker opens clusters by ID.
type Walker interface {
	Open(ctx context.Context, clusterID string) (Cluster, error)
}

// Walk visits the entries after token, in order, until max entries were
// counted (max <= 0: all). It returns the token of the next page, "" when
// no entry is left.
func Walk(ctx context.Context, w Walker, clusters []string, token string, max int) (string, error) {
	cur, err := decode(token)
	if err != nil {
		return "", err
	}
	start := 0
	if token != "" {
		if start = slices.Index(clusters, cur.Cluster); start < 0 {
			return "", ErrBadToken
		}
	}
	p := &pager{w: w, max: max}
	for i, id := range clusters[start:] {
		from := cursor{Cluster: id}
		if i == 0 && token != "" {
			from = cur
		}
		if next, err := p.cluster(ctx, from); err != nil || next != "" {
			return next, err
		}
	}
	return "", nil
}

type pager struct {
	w     Walker
	max   int
	count int
}

func (p *pager) cluster(ctx context.Context, from cursor) (string, error) {
	c, err := p.w.Open(ctx, from.Cluster)
	if err != nil {
		return "", err
	}
	defer c.Close()
	locs, err := c.Locations(ctx)
	if err != nil {
		return "", err
	}
	locs = slices.Clone(locs)
	sort.Strings(locs)
	for _, loc := range locs[sort.SearchStrings(locs, from.Location):] {
		after := ""
		if loc == from.Location {
			after = from.After
		}
		next, err := p.location(ctx, c, cursor{Cluster: from.Cluster, Location: loc, After: after})
		if err != nil || next != "" {
			return next, err
		}
	}
	return "", nil
}

func (p *pager) location(ctx context.Context, c Cluster, at cursor) (string, error) {
	j, err := c.Journal(ctx, at.Location)
	if err != nil {
		return "", err
	}
	for {
		entries, err := j.Page(ctx, at.After, batch)
		if errors.Is(err, journal.ErrStoreDenied) {
			return "", nil // a pool the user may not read holds none of its volumes
		}
		if err != nil {
			return "", err
		}
		for _, e := range entries {
			if p.max > 0 && p.count == p.max {
				return at.encode(), nil
			}
			counted, err := c.Visit(ctx, at.Location, e)
			if err != nil {
				return "", err
			}
			if counted {
				p.count++
			}
			at.After = e.RequestName
		}
		if len(entries) < batch {
			return "", nil
		}
	}
}
