package listpage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/journal/memstore"
)

// world is clusters of locations of in-memory journals; Visit records the
// names it counts and skips names starting with "skip".
type world struct {
	stores  map[string]map[string]*memstore.Store
	visited []string
	opens   int
}

func (w *world) journal(cluster, loc string) *journal.Journal {
	if w.stores[cluster] == nil {
		w.stores[cluster] = map[string]*memstore.Store{}
	}
	if w.stores[cluster][loc] == nil {
		w.stores[cluster][loc] = memstore.New()
	}
	return journal.New(w.stores[cluster][loc], journal.Options{Kind: journal.Volumes})
}

func (w *world) add(t *testing.T, cluster, loc string, names ...string) {
	for _, n := range names {
		if _, err := w.journal(cluster, loc).Reserve(context.Background(), journal.Reservation{RequestName: n}); err != nil {
			t.Fatal(err)
		}
	}
}

func (w *world) remove(t *testing.T, cluster, loc, name string) {
	j := w.journal(cluster, loc)
	rec, err := j.Lookup(context.Background(), name)
	if err == nil {
		err = j.Undo(context.Background(), rec)
	}
	if err != nil {
		t.Fatal(err)
	}
}

type worldCluster struct {
	w  *world
	id string
}

func (w *world) Open(_ context.Context, id string) (Cluster, error) {
	if id == "down" {
		return nil, errors.New("cluster down")
	}
	w.opens++
	return &worldCluster{w: w, id: id}, nil
}

func (c *worldCluster) Locations(context.Context) ([]string, error) {
	var out []string
	for loc := range c.w.stores[c.id] {
		out = append(out, loc)
	}
	return out, nil
}

func (c *worldCluster) Journal(_ context.Context, loc string) (*journal.Journal, error) {
	return c.w.journal(c.id, loc), nil
}

func (c *worldCluster) Visit(_ context.Context, loc string, e journal.Entry) (bool, error) {
	if strings.HasPrefix(e.RequestName, "skip") {
		return false, nil
	}
	c.w.visited = append(c.w.visited, c.id+"/"+loc+"/"+e.RequestName)
	return true, nil
}

func (c *worldCluster) Close() {}

// pages walks every page of size max and returns what each page held.
func pages(t *testing.T, w *world, clusters []string, max int) []string {
	var out []string
	token := ""
	for i := 0; ; i++ {
		w.visited = nil
		next, err := Walk(context.Background(), w, clusters, token, max)
		if err != nil || i > 20 {
			t.Fatalf("Walk(%q) = %v after %d pages", token, err, i)
		}
		out = append(out, strings.Join(w.visited, ","))
		if next == "" {
			return out
		}
		token = next
	}
}

func TestWalkPagesAcrossClustersAndLocations(t *testing.T) {
	w := &world{stores: map[string]map[string]*memstore.Store{}}
	w.add(t, "c2", "rbd", "pvc-a")
	w.add(t, "c1", "zeta", "pvc-z")
	w.add(t, "c1", "alpha", "pvc-b", "skip-1", "pvc-a", "pvc-c")
	got := pages(t, w, []string{"c1", "c2", "c3"}, 2)
	want := "[c1/alpha/pvc-a,c1/alpha/pvc-b c1/alpha/pvc-c,c1/zeta/pvc-z c2/rbd/pvc-a]"
	if fmt.Sprint(got) != want {
		t.Fatalf("pages = %v\nwant    %v", got, want)
	}
	if all := pages(t, w, []string{"c1", "c2"}, 0); len(all) != 1 || strings.Count(all[0], ",") != 4 {
		t.Fatalf("unbounded walk = %v, want one page of 5", all)
	}
}

// TestWalkTokenSurvivesChanges is the csi-sanity pagination scenario: the
// last volume of a page is deleted and a new one created before the next
// page is asked for.
func TestWalkTokenSurvivesChanges(t *testing.T) {
	w := &world{stores: map[string]map[string]*memstore.Store{}}
	w.add(t, "c1", "rbd", "pvc-1", "pvc-2", "pvc-3")
	next, err := Walk(context.Background(), w, []string{"c1"}, "", 2)
	if err != nil || next == "" || fmt.Sprint(w.visited) != "[c1/rbd/pvc-1 c1/rbd/pvc-2]" {
		t.Fatalf("first page %v, next %q, %v", w.visited, next, err)
	}
	w.remove(t, "c1", "rbd", "pvc-2")
	w.add(t, "c1", "rbd", "pvc-4")
	w.visited = nil
	if next, err = Walk(context.Background(), w, []string{"c1"}, next, 2); err != nil || next != "" ||
		fmt.Sprint(w.visited) != "[c1/rbd/pvc-3 c1/rbd/pvc-4]" {
		t.Fatalf("second page %v, next %q, %v", w.visited, next, err)
	}
}

func TestWalkBadTokens(t *testing.T) {
	w := &world{stores: map[string]map[string]*memstore.Store{}}
	w.add(t, "c1", "rbd", "pvc-1", "pvc-2")
	next, err := Walk(context.Background(), w, []string{"c1"}, "", 1)
	if err != nil || next == "" {
		t.Fatalf("Walk = %q, %v", next, err)
	}
	for _, tok := range []string{"10", "invalid-token", "e30", cursor{Cluster: "gone", Location: "rbd"}.encode()} {
		if _, err := Walk(context.Background(), w, []string{"c1"}, tok, 1); !errors.Is(err, ErrBadToken) {
			t.Errorf("Walk(token %q) = %v, want ErrBadToken", tok, err)
		}
	}
	if _, err := Walk(context.Background(), w, []string{"c1", "down"}, "", 0); err == nil {
		t.Error("Walk over an unreachable cluster succeeded")
	}
	if _, err := Walk(context.Background(), w, []string{"c1"}, next, 1); err != nil {
		t.Errorf("Walk with a good token = %v", err)
	}
}

// deniedStore fails every read as a pool the user has no caps on does.
type deniedStore struct{ *memstore.Store }

func (deniedStore) ListOmap(context.Context, string, string) (map[string]string, error) {
	return nil, journal.ErrStoreDenied
}

func (deniedStore) ListOmapAfter(context.Context, string, string, string, int) ([]journal.KV, error) {
	return nil, journal.ErrStoreDenied
}

// deniedWorld is a world whose location "secret" cannot be read.
type deniedWorld struct{ *world }

func (w deniedWorld) Open(ctx context.Context, id string) (Cluster, error) {
	c, err := w.world.Open(ctx, id)
	return deniedCluster{c.(*worldCluster)}, err
}

type deniedCluster struct{ *worldCluster }

func (c deniedCluster) Locations(ctx context.Context) ([]string, error) {
	locs, err := c.worldCluster.Locations(ctx)
	return append(locs, "secret"), err
}

func (c deniedCluster) Journal(ctx context.Context, loc string) (*journal.Journal, error) {
	if loc == "secret" {
		return journal.New(deniedStore{memstore.New()}, journal.Options{Kind: journal.Volumes}), nil
	}
	return c.worldCluster.Journal(ctx, loc)
}

func TestWalkSkipsDeniedLocations(t *testing.T) {
	w := &world{stores: map[string]map[string]*memstore.Store{}}
	w.add(t, "c1", "rbd", "pvc-1")
	w.add(t, "c1", "zeta", "pvc-2")
	next, err := Walk(context.Background(), deniedWorld{w}, []string{"c1"}, "", 0)
	if err != nil || next != "" || fmt.Sprint(w.visited) != "[c1/rbd/pvc-1 c1/zeta/pvc-2]" {
		t.Fatalf("Walk = %v, %q, %v; want both readable pools listed", w.visited, next, err)
	}
}
