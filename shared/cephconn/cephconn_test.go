package cephconn

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/journal/journaltest"
	"github.com/seed-6a310834/ceph-csi/shared/testcluster"
)

// testPool is the pool the integration tests use; each test works in its
// own RADOS namespace so that it starts empty and leaves nothing behind.
const testPool = "rbd"

func adminTarget(c *testcluster.Cluster) Target {
	return Target{ClusterID: c.FSID, Monitors: c.Monitors,
		Creds: &credentials.Credentials{ID: c.AdminID, Key: c.AdminKey}}
}

func TestJournalConformanceRADOS(t *testing.T) {
	journaltest.Run(t, radosFactory(t))
}

// TestGroupJournalConformanceRADOS runs the group journal's suite over real
// RADOS.
func TestGroupJournalConformanceRADOS(t *testing.T) {
	journaltest.RunGroups(t, radosFactory(t))
}

// radosFactory returns stores in fresh RADOS namespaces of testPool, each
// emptied when its test ends.
func radosFactory(t *testing.T) journaltest.Factory {
	c := testcluster.Get(t)
	pool := NewPool(Options{})
	t.Cleanup(pool.Close)
	conn, err := pool.Get(context.Background(), adminTarget(c))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Release)
	return func(t *testing.T) journal.ObjectStore {
		ns := fmt.Sprintf("journaltest-%d", rand.Int64())
		s, err := NewObjectStore(conn.Conn, testPool, ns)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { emptyNamespace(t, s, ns) })
		return s
	}
}

func emptyNamespace(t *testing.T, s *ObjectStore, ns string) {
	defer s.Destroy()
	names, err := s.ListObjects(context.Background(), "")
	if err != nil {
		t.Errorf("list namespace %s: %v", ns, err)
	}
	for _, n := range names {
		if err := s.Remove(context.Background(), n); err != nil {
			t.Errorf("remove %s: %v", n, err)
		}
	}
}

func TestPoolSharesOneConnection(t *testing.T) {
	c := testcluster.Get(t)
	pool := NewPool(Options{})
	defer pool.Close()
	var wg sync.WaitGroup
	conns := make([]*Conn, 16)
	errs := make([]error, 16)
	for i := range conns {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			conns[i], errs[i] = pool.Get(context.Background(), adminTarget(c))
		}(i)
	}
	wg.Wait()
	for i := range conns {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if conns[i].Conn != conns[0].Conn {
			t.Fatalf("request %d got another connection", i)
		}
	}
	if pool.Len() != 1 {
		t.Fatalf("pool holds %d connections, want 1", pool.Len())
	}
	if _, err := conns[0].GetFSID(); err != nil {
		t.Fatalf("shared connection does not work: %v", err)
	}
	for _, cn := range conns {
		cn.Release()
		cn.Release()
	}
}

func TestPoolIdleExpiry(t *testing.T) {
	c := testcluster.Get(t)
	pool := NewPool(Options{IdleTimeout: 200 * time.Millisecond})
	defer pool.Close()
	conn, err := pool.Get(context.Background(), adminTarget(c))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	if pool.Len() != 1 {
		t.Fatal("a connection in use was closed")
	}
	conn.Release()
	deadline := time.Now().Add(5 * time.Second)
	for pool.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("idle connection was never closed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	again, err := pool.Get(context.Background(), adminTarget(c))
	if err != nil {
		t.Fatalf("reconnect after expiry: %v", err)
	}
	again.Release()
}

func TestPoolWrongKeyFails(t *testing.T) {
	c := testcluster.Get(t)
	pool := NewPool(Options{ConnectTimeout: 5 * time.Second})
	defer pool.Close()
	target := adminTarget(c)
	target.Creds = &credentials.Credentials{ID: c.AdminID, Key: "AQBiZ3VzYmFkYmFkYmFkYmFkYmFkYmFkYmFkYQ=="}
	_, err := pool.Get(context.Background(), target)
	if !errors.Is(err, ErrConnect) {
		t.Fatalf("wrong key: %v, want ErrConnect", err)
	}
	if pool.Len() != 0 {
		t.Fatal("a failed connection was kept")
	}
}

// TestPoolUnreachableClusterHonoursDeadline points at a port where no
// monitor listens: the caller gets its deadline back, not a hang.
func TestPoolUnreachableClusterHonoursDeadline(t *testing.T) {
	c := testcluster.Get(t)
	pool := NewPool(Options{ConnectTimeout: 3 * time.Second})
	defer pool.Close()
	target := adminTarget(c)
	target.Monitors = []string{"127.0.0.1:1"}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := pool.Get(ctx, target)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unreachable cluster with a short deadline: %v, want DeadlineExceeded", err)
	}
	_, err = pool.Get(context.Background(), target)
	if !errors.Is(err, ErrConnect) {
		t.Fatalf("unreachable cluster: %v, want ErrConnect after the connect timeout", err)
	}
}

func TestCommandTimeout(t *testing.T) {
	tests := []struct {
		opts Options
		want string
	}{
		{Options{OpTimeout: 30 * time.Second}, "30"},
		{Options{OpTimeout: 30 * time.Second, CommandTimeout: 5 * time.Second}, "5"},
		{Options{OpTimeout: 30 * time.Second, CommandTimeout: -1}, "0"},
	}
	for _, tc := range tests {
		if got := commandTimeout(tc.opts); got != tc.want {
			t.Errorf("commandTimeout(%+v) = %q, want %q", tc.opts, got, tc.want)
		}
	}
}

func TestPoolAppliesCommandTimeout(t *testing.T) {
	c := testcluster.Get(t)
	pool := NewPool(Options{CommandTimeout: -1})
	defer pool.Close()
	conn, err := pool.Get(context.Background(), adminTarget(c))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	for opt, want := range map[string]string{"rados_mon_op_timeout": "0", "rados_osd_op_timeout": "30"} {
		got, err := conn.GetConfigOption(opt)
		if err != nil || got != want {
			t.Errorf("%s = %q (%v), want %q", opt, got, err, want)
		}
	}
}

func TestPoolReadsConfFile(t *testing.T) {
	c := testcluster.Get(t)
	conf := filepath.Join(t.TempDir(), "ceph.conf")
	// A client override, and settings the pool's own must win over.
	data := "[global]\n\tmon_host = 192.0.2.1:6789\n\trados_osd_op_timeout = 99\n[client]\n\tclient_oc_size = 12345678\n"
	if err := os.WriteFile(conf, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	pool := NewPool(Options{ConfFile: conf})
	defer pool.Close()
	conn, err := pool.Get(context.Background(), adminTarget(c))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	for opt, want := range map[string]string{"client_oc_size": "12345678", "rados_osd_op_timeout": "30"} {
		if got, err := conn.GetConfigOption(opt); err != nil || got != want {
			t.Errorf("%s = %q (%v), want %q", opt, got, err, want)
		}
	}
	missing := NewPool(Options{ConfFile: filepath.Join(t.TempDir(), "absent.conf")})
	defer missing.Close()
	conn2, err := missing.Get(context.Background(), adminTarget(c))
	if err != nil {
		t.Fatalf("a missing ceph.conf must be skipped: %v", err)
	}
	conn2.Release()
}
