// Package testcluster finds the local Ceph cluster that test/cluster.sh
// starts, for integration tests. Settings come from the environment written
// by `test/cluster.sh env` (the Makefile exports them).
//
// Without a cluster, integration tests are skipped with a visible message;
// with CEPH_CSI_REQUIRE_CLUSTER=1 (set by `make test` and CI) they fail
// instead, so that a run whose integration tier did nothing cannot pass.
package testcluster

import (
	"os"
	"strings"
	"testing"
)

// RequireEnv is the variable that turns a missing cluster into a failure.
const RequireEnv = "CEPH_CSI_REQUIRE_CLUSTER"

// Cluster describes the local test cluster.
type Cluster struct {
	// ConfPath is the ceph.conf of the cluster (CEPH_CONF).
	ConfPath string
	// Keyring is the admin keyring path (CEPH_KEYRING).
	Keyring string
	// AdminID and AdminKey are the admin user's credentials.
	AdminID  string
	AdminKey string
	// Monitors are the monitor addresses (CEPH_MONITORS, comma-separated).
	Monitors []string
	// FSID is the cluster's fsid, also its clusterID in CSIConfig.
	FSID string
	// CSIConfig is the path of a ceph-csi config.json for this cluster.
	CSIConfig string
}

// Get returns the local cluster or ends the test: skipped when none is
// configured, failed when RequireEnv is set.
func Get(t testing.TB) *Cluster {
	t.Helper()
	c, missing := fromEnv()
	if len(missing) == 0 {
		return c
	}
	msg := "no Ceph test cluster configured (missing " + strings.Join(missing, ", ") +
		"); run `make cluster-up` and source its env file, or use `make test`"
	if os.Getenv(RequireEnv) == "1" {
		t.Fatal(msg)
	}
	t.Skip("SKIP integration: " + msg)
	return nil
}

func fromEnv() (*Cluster, []string) {
	var missing []string
	get := func(name string) string {
		v := os.Getenv(name)
		if v == "" {
			missing = append(missing, name)
		}
		return v
	}
	c := &Cluster{
		ConfPath:  get("CEPH_CONF"),
		Keyring:   get("CEPH_KEYRING"),
		AdminID:   get("CEPH_ADMIN_ID"),
		AdminKey:  get("CEPH_ADMIN_KEY"),
		FSID:      get("CEPH_CLUSTER_FSID"),
		CSIConfig: get("CEPH_CSI_CONFIG"),
	}
	if mons := get("CEPH_MONITORS"); mons != "" {
		c.Monitors = strings.Split(mons, ",")
	}
	return c, missing
}
