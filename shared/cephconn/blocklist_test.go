package cephconn

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"testing"

	"github.com/ceph/go-ceph/rados"

	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
)

// fakeFactory stands in for the pool's connection factory: it hands out
// distinct (never connected) rados.Conn values and counts shutdowns.
type fakeFactory struct {
	mu    sync.Mutex
	dials int
	shut  map[*rados.Conn]int
}

func newFakePool(t *testing.T) (*Pool, *fakeFactory) {
	f := &fakeFactory{shut: map[*rados.Conn]int{}}
	p := NewPool(Options{})
	p.dial = func(Target, Options) (*rados.Conn, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.dials++
		c := &rados.Conn{}
		f.shut[c] = 0
		return c, nil
	}
	p.shutdown = func(c *rados.Conn) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.shut[c]++
	}
	t.Cleanup(func() {
		p.Close()
		f.mu.Lock()
		defer f.mu.Unlock()
		for c, n := range f.shut {
			if n != 1 {
				t.Errorf("connection %p shut down %d times, want once", c, n)
			}
		}
	})
	return p, f
}

func (f *fakeFactory) shutdowns(c *rados.Conn) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.shut[c]
}

var fakeTarget = Target{ClusterID: "c", Monitors: []string{"127.0.0.1:1"},
	Creds: &credentials.Credentials{ID: "admin", Key: "k"}}

func mustGet(t *testing.T, p *Pool) *Conn {
	t.Helper()
	c, err := p.Get(context.Background(), fakeTarget)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var errShutdown = codedError(-int(syscall.ESHUTDOWN))

// TestPoolReplacesBlocklistedConnection: an ESHUTDOWN error passed through
// Check drops the connection; the next Get dials a new one; the requests
// still holding the old one keep it until they release it, and the last
// release shuts it down (once).
func TestPoolReplacesBlocklistedConnection(t *testing.T) {
	p, f := newFakePool(t)
	a, b := mustGet(t, p), mustGet(t, p)
	old := a.Conn
	err := a.Check(fmt.Errorf("open image: %w", errShutdown))
	if !errors.Is(err, ErrBlocklisted) || !errors.Is(err, errShutdown) {
		t.Fatalf("Check(ESHUTDOWN) = %v, want ErrBlocklisted wrapping the cause", err)
	}
	if p.Len() != 0 {
		t.Fatal("the blocklisted connection stayed in the pool")
	}
	c := mustGet(t, p)
	if c.Conn == old || f.dials != 2 {
		t.Fatalf("Get after the blocklist reused the old connection (dials %d)", f.dials)
	}
	a.Release()
	if f.shutdowns(old) != 0 {
		t.Fatal("the old connection was shut down while a request still holds it")
	}
	// A late failure of the other holder must not drop the new connection.
	if err := b.Check(errShutdown); !errors.Is(err, ErrBlocklisted) {
		t.Fatalf("second Check = %v", err)
	}
	if p.Len() != 1 {
		t.Fatal("a late Check on the old connection dropped the new one")
	}
	b.Release()
	if f.shutdowns(old) != 1 {
		t.Fatal("the last release did not shut the old connection down")
	}
	if err := c.Check(codedError(-int(syscall.EIO))); errors.Is(err, ErrBlocklisted) || p.Len() != 1 {
		t.Fatalf("Check(EIO) = %v, pool holds %d; want it unchanged and kept", err, p.Len())
	}
	c.Release()
	// Check after the release (the store of a released session): shut now.
	if c.Check(rados.OperationError{StepErrors: map[int]error{1: errShutdown}}) == nil || p.Len() != 0 {
		t.Fatal("a blocklisted step of a compound operation did not drop the connection")
	}
	if f.shutdowns(c.Conn) != 1 {
		t.Fatal("a dropped connection nobody holds was not shut down")
	}
	mustGet(t, p).Release() // left for Close
}

func TestBlocklisted(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errShutdown, true},
		{codedError(int(syscall.ESHUTDOWN)), true},
		{fmt.Errorf("%w: %w", journal.ErrStoreUnavailable, errShutdown), true},
		{rados.OperationError{OpError: errShutdown}, true},
		{codedError(-int(syscall.ENOTCONN)), false},
		{errors.New("shutdown"), false},
	} {
		if got := Blocklisted(tc.err); got != tc.want {
			t.Errorf("Blocklisted(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
