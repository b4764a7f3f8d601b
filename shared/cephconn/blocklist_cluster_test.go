package cephconn_test

import (
	"context"
	"errors"
	"testing"

	"github.com/seed-6a310834/ceph-csi/shared/cephconn"
	"github.com/seed-6a310834/ceph-csi/shared/cephconn/cephconntest"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/testcluster"
)

// TestBlocklistedStoreReconnects: after `ceph osd blocklist add` of the
// pooled connection's address, a journal read fails with ErrBlocklisted
// (and ErrStoreUnavailable), and the next Get brings a working connection.
func TestBlocklistedStoreReconnects(t *testing.T) {
	c := testcluster.Get(t)
	pool := cephconn.NewPool(cephconn.Options{})
	defer pool.Close()
	target := cephconn.Target{ClusterID: c.FSID, Monitors: c.Monitors,
		Creds: &credentials.Credentials{ID: c.AdminID, Key: c.AdminKey}}
	read := func() error {
		conn, err := pool.Get(context.Background(), target)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Release()
		st, err := conn.ObjectStore("rbd", "blocklist-test")
		if err != nil {
			return err
		}
		defer st.Destroy()
		_, err = st.GetOmapValues(context.Background(), "csi.volumes.default", []string{"x"})
		if errors.Is(err, journal.ErrObjectNotFound) {
			return nil
		}
		return err
	}
	if err := read(); err != nil {
		t.Fatal(err)
	}
	conn, err := pool.Get(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("blocklisted %s", cephconntest.Blocklist(t, c, conn))
	conn.Release()
	err = read()
	if !errors.Is(err, cephconn.ErrBlocklisted) || !errors.Is(err, journal.ErrStoreUnavailable) {
		t.Fatalf("read on the blocklisted connection: %v, want ErrBlocklisted", err)
	}
	if err := read(); err != nil {
		t.Fatalf("read after the blocklist: %v, want a fresh connection", err)
	}
}
