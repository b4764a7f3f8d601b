package csifuzz

import (
	"context"
	"errors"
	"testing"

	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
)

// TestClustersHandOutCopies checks the lookups of Clusters and that a
// server changing what it got does not change the configuration.
func TestClustersHandOutCopies(t *testing.T) {
	c := Clusters{"b": {ClusterID: "b"}, "a": {ClusterID: "a"}}
	got, err := c.Get("a")
	if err != nil || got.ClusterID != "a" {
		t.Fatalf("Get(a) = %+v, %v", got, err)
	}
	got.ClusterID = "changed"
	all, _ := c.Clusters()
	if len(all) != 2 || all[0].ClusterID != "a" || all[1].ClusterID != "b" {
		t.Errorf("Clusters() = %+v %+v, want a and b in order, unchanged", all[0], all[1])
	}
	if _, err := c.Get("nope"); !errors.Is(err, clusterconfig.ErrClusterNotFound) {
		t.Errorf("Get(nope) = %v, want ErrClusterNotFound", err)
	}
}

// mapStore is an ObjectStore of objects with omaps.
type mapStore map[string]map[string]string

func (m mapStore) ListObjects(context.Context, string) ([]string, error) {
	return []string{"dir", "uuid.1"}, nil
}

func (m mapStore) ListOmap(_ context.Context, oid, _ string) (map[string]string, error) {
	return m[oid], nil
}

// TestOmapsIsStable checks that Omaps describes every object and pair in
// a fixed order, and sees a changed value.
func TestOmapsIsStable(t *testing.T) {
	st := mapStore{"dir": {"k2": "v2", "k1": "v1", "k3": "v3"}, "uuid.1": {"name": "pvc"}}
	want := "object dir [k1=v1 k2=v2 k3=v3]\nobject uuid.1 [name=pvc]\n"
	for range 5 {
		if got := Omaps(context.Background(), st); got != want {
			t.Fatalf("Omaps = %q, want %q", got, want)
		}
	}
	st["uuid.1"]["name"] = "other"
	if Omaps(context.Background(), st) == want {
		t.Error("Omaps did not see the changed value")
	}
}
