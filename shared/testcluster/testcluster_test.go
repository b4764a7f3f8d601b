package testcluster

import "testing"

func TestFromEnvReportsMissing(t *testing.T) {
	for _, v := range []string{"CEPH_CONF", "CEPH_KEYRING", "CEPH_ADMIN_ID", "CEPH_ADMIN_KEY", "CEPH_CLUSTER_FSID", "CEPH_CSI_CONFIG", "CEPH_MONITORS"} {
		t.Setenv(v, "")
	}
	t.Setenv("CEPH_MONITORS", "127.0.0.1:1,127.0.0.1:2")
	c, missing := fromEnv()
	if len(missing) != 6 {
		t.Fatalf("missing = %v, want 6 names", missing)
	}
	if len(c.Monitors) != 2 || c.Monitors[1] != "127.0.0.1:2" {
		t.Fatalf("monitors = %v", c.Monitors)
	}
}
