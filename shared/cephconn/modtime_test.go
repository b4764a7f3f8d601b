package cephconn

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/testcluster"
)

// TestModTime: an object's mtime is the time of its last write as the
// cluster saw it (second resolution), a missing object is
// journal.ErrObjectNotFound.
func TestModTime(t *testing.T) {
	c := testcluster.Get(t)
	pool := NewPool(Options{})
	defer pool.Close()
	ctx := context.Background()
	conn, err := pool.Get(ctx, adminTarget(c))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	s, err := NewObjectStore(conn.Conn, testPool, fmt.Sprintf("modtime-%d", rand.Int64()))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destroy()
	if _, err := s.ModTime(ctx, "obj"); !errors.Is(err, journal.ErrObjectNotFound) {
		t.Fatalf("ModTime of a missing object: %v, want ErrObjectNotFound", err)
	}
	before := time.Now().Add(-time.Minute) // generous: the cluster's clock is this machine's
	if err := s.SetOmap(ctx, "obj", map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Remove(ctx, "obj") }()
	mt, err := s.ModTime(ctx, "obj")
	if err != nil || mt.Before(before) || mt.After(time.Now().Add(time.Minute)) {
		t.Fatalf("ModTime = %v, %v; want about now", mt, err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.ModTime(cancelled, "obj"); !errors.Is(err, context.Canceled) {
		t.Fatalf("ModTime with an ended context: %v", err)
	}
}
