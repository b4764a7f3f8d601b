// Package cephconntest helps tests fence a pooled connection the way Ceph
// and ceph-csi do: `ceph osd blocklist add` of the client's address.
package cephconntest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/seed-6a310834/ceph-csi/shared/cephconn"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/testcluster"
)

// Blocklist adds the client address of conn (its address and nonce, as
// rados_getaddrs reports it) to the cluster's OSD blocklist, through an
// admin connection of its own, and removes the entry when the test ends.
// Once it returns, every op of conn fails with EBLOCKLISTED. It returns the
// address.
func Blocklist(t testing.TB, c *testcluster.Cluster, conn *cephconn.Conn) string {
	t.Helper()
	addr, err := conn.GetAddrs()
	if err != nil {
		t.Fatalf("address of the connection: %v", err)
	}
	pool := cephconn.NewPool(cephconn.Options{})
	admin, err := pool.Get(context.Background(), cephconn.Target{ClusterID: c.FSID, Monitors: c.Monitors,
		Creds: &credentials.Credentials{ID: c.AdminID, Key: c.AdminKey}})
	if err != nil {
		pool.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer pool.Close()
		defer admin.Release()
		if err := blocklist(admin, "rm", addr); err != nil {
			t.Errorf("remove blocklist entry %s: %v", addr, err)
		}
	})
	if err := blocklist(admin, "add", addr); err != nil {
		t.Fatalf("blocklist %s: %v", addr, err)
	}
	if err := waitOSDMap(admin); err != nil {
		t.Fatal(err)
	}
	// The OSD checks the blocklist against the map of the placement group
	// an op lands on, which may still lag behind the OSD's newest map. An
	// op waits for its PG to reach the epoch the client sent it with, so
	// once conn itself has the new map, its next op is refused.
	if err := conn.WaitForLatestOSDMap(); err != nil {
		t.Fatalf("OSD map of the blocklisted connection: %v", err)
	}
	return addr
}

// waitOSDMap waits until osd.0 (test/cluster.sh runs one OSD) has the
// current OSD map, which holds the new blocklist entry.
func waitOSDMap(admin *cephconn.Conn) error {
	var dump struct {
		Epoch int `json:"epoch"`
	}
	out, info, err := admin.MonCommand([]byte(`{"prefix":"osd dump","format":"json"}`))
	if err == nil {
		err = json.Unmarshal(out, &dump)
	}
	if err != nil {
		return fmt.Errorf("osd dump: %w: %s", err, info)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var st struct {
			Newest int `json:"newest_map"`
		}
		out, info, err := admin.OsdCommand(0, [][]byte{[]byte(`{"prefix":"status"}`)})
		if err == nil {
			err = json.Unmarshal(out, &st)
		}
		switch {
		case err != nil:
			return fmt.Errorf("tell osd.0 status: %w: %s", err, info)
		case st.Newest >= dump.Epoch:
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("osd.0 is at OSD map %d, not %d, after 30s", st.Newest, dump.Epoch)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func blocklist(admin *cephconn.Conn, op, addr string) error {
	body, err := json.Marshal(map[string]string{"prefix": "osd blocklist", "blocklistop": op, "addr": addr})
	if err != nil {
		return err
	}
	_, info, err := admin.MonCommand(body)
	if err != nil {
		return fmt.Errorf("%w: %s", err, info)
	}
	return nil
}
