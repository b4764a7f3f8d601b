package cephconn

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ceph/go-ceph/rados"

	"github.com/seed-6a310834/ceph-csi/shared/credentials"
)

// ErrConnect wraps every failure to reach a cluster; the drivers map it to
// codes.Unavailable (or DeadlineExceeded when the caller's deadline passed).
var ErrConnect = errors.New("cannot connect to the Ceph cluster")

// ErrBlocklisted wraps the failure of a call on a connection the cluster
// has blocklisted (errno ESHUTDOWN, e.g. after `ceph osd blocklist add` or
// fencing). Conn.Check drops such a connection from the pool, so the next
// request opens a fresh one; the drivers map it to codes.Unavailable.
var ErrBlocklisted = errors.New("the Ceph cluster blocklisted this client's connection " +
	"(dropped; the next request reconnects)")

// Options tunes the pool. Zero values take the defaults.
type Options struct {
	// IdleTimeout closes a connection unused for this long (default 10m).
	IdleTimeout time.Duration
	// ConnectTimeout bounds the monitor handshake (default 10s).
	ConnectTimeout time.Duration
	// OpTimeout bounds every monitor and OSD operation, so that a stopped
	// daemon yields an error instead of a hang (default 30s).
	OpTimeout time.Duration
	// CommandTimeout bounds mon and mgr commands (rados_mon_op_timeout):
	// 0 means OpTimeout, a negative value means no bound. Beware: with
	// Pacific's librados and go-ceph, the late reply of a mgr command that
	// timed out writes into freed memory and crashes the process, so a
	// program whose mgr commands can legitimately block (e.g. a subvolume
	// removal waiting for a CephFS client's caps) should disable the bound.
	CommandTimeout time.Duration
	// ConfFile, when set and present, is a ceph.conf read before the
	// explicit settings (e.g. DefaultConfFile, from the ceph-config
	// ConfigMap): its client options apply, while the monitors, the key
	// and the timeouts given here win over it. A missing file is skipped.
	ConfFile string
}

// DefaultConfFile is where ceph-csi deployments mount ceph.conf.
const DefaultConfFile = "/etc/ceph/ceph.conf"

func (o Options) withDefaults() Options {
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 10 * time.Minute
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.OpTimeout <= 0 {
		o.OpTimeout = 30 * time.Second
	}
	return o
}

// Target names a cluster and the user to reach it as.
type Target struct {
	// ClusterID is the cluster's ID in the CSI configuration.
	ClusterID string
	// Monitors are "host:port" addresses.
	Monitors []string
	// Creds are the user's ID and key; the key only ever reaches librados
	// as a configuration value.
	Creds *credentials.Credentials
}

// key is a pool map key: the key itself is hashed so a rotated key opens a
// new connection and the map holds no secret.
type key struct {
	cluster  string
	monitors string
	user     string
	digest   [sha256.Size]byte
}

type entry struct {
	ready    chan struct{} // closed when the connect attempt finished
	conn     *rados.Conn
	err      error
	refs     int
	lastUsed time.Time
	// dropped: no longer in the pool (blocklisted); the last Release
	// shuts the connection down.
	dropped bool
}

// Pool shares one RADOS connection per (cluster, user) between requests and
// closes connections that stay idle. It is safe for concurrent use.
type Pool struct {
	opts     Options
	dial     func(Target, Options) (*rados.Conn, error)
	shutdown func(*rados.Conn)
	mu       sync.Mutex
	entries  map[key]*entry
	stop     chan struct{}
	done     chan struct{}
}

// NewPool returns a pool; Close it to release every connection.
func NewPool(opts Options) *Pool {
	p := &Pool{
		opts:     opts.withDefaults(),
		dial:     dial,
		shutdown: (*rados.Conn).Shutdown,
		entries:  map[key]*entry{},
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go p.reap()
	return p
}

// Conn is a borrowed connection. Call Release when the request is done.
// Pass the errors of calls on it through Check.
type Conn struct {
	*rados.Conn
	release func()
	drop    func()
}

// Release returns the connection to the pool. It is safe to call twice.
func (c *Conn) Release() {
	if c.release != nil {
		c.release()
		c.release = nil
	}
}

// Get returns the shared connection for t, connecting on first use. Callers
// that arrive while a connect is in progress wait for it. A caller whose ctx
// ends first gets ctx's error; the connect goes on for the next caller.
func (p *Pool) Get(ctx context.Context, t Target) (*Conn, error) {
	if t.Creds == nil || len(t.Monitors) == 0 {
		return nil, fmt.Errorf("%w: cluster %q: no monitors or no credentials", ErrConnect, t.ClusterID)
	}
	k := key{cluster: t.ClusterID, monitors: strings.Join(t.Monitors, ","), user: t.Creds.ID,
		digest: sha256.Sum256([]byte(t.Creds.Key))}
	p.mu.Lock()
	e, ok := p.entries[k]
	if !ok {
		e = &entry{ready: make(chan struct{})}
		p.entries[k] = e
		go p.connect(k, e, t)
	}
	e.refs++
	p.mu.Unlock()

	select {
	case <-e.ready:
	case <-ctx.Done():
		p.put(k, e)
		return nil, ctx.Err()
	}
	if e.err != nil {
		p.put(k, e)
		return nil, e.err
	}
	return &Conn{Conn: e.conn, release: sync.OnceFunc(func() { p.put(k, e) }),
		drop: func() { p.drop(k, e) }}, nil
}

func (p *Pool) connect(k key, e *entry, t Target) {
	conn, err := p.dial(t, p.opts)
	p.mu.Lock()
	defer p.mu.Unlock()
	e.conn, e.err, e.lastUsed = conn, err, time.Now()
	if err != nil {
		// Forget the failure so that the next request tries again.
		if p.entries[k] == e {
			delete(p.entries, k)
		}
	}
	close(e.ready)
}

// put returns a reference; the last one of a dropped entry shuts its
// connection down.
func (p *Pool) put(_ key, e *entry) {
	p.mu.Lock()
	e.refs--
	e.lastUsed = time.Now()
	last := e.dropped && e.refs == 0 && e.conn != nil
	p.mu.Unlock()
	if last {
		p.shutdown(e.conn)
	}
}

// drop removes e from the pool, so that the next Get connects afresh. The
// requests still holding it finish their calls (which fail alike); the
// last Release shuts it down.
func (p *Pool) drop(k key, e *entry) {
	p.mu.Lock()
	if p.entries[k] != e {
		p.mu.Unlock()
		return // dropped before, or closed as idle
	}
	delete(p.entries, k)
	e.dropped = true
	unused := e.refs == 0
	p.mu.Unlock()
	if unused {
		p.shutdown(e.conn)
	}
}

// reap closes connections idle for longer than IdleTimeout.
func (p *Pool) reap() {
	defer close(p.done)
	tick := time.NewTicker(p.opts.IdleTimeout / 2)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case now := <-tick.C:
			p.closeIdle(now)
		}
	}
}

func (p *Pool) closeIdle(now time.Time) {
	var idle []*rados.Conn
	p.mu.Lock()
	for k, e := range p.entries {
		select {
		case <-e.ready:
		default:
			continue // still connecting
		}
		if e.refs == 0 && e.conn != nil && now.Sub(e.lastUsed) >= p.opts.IdleTimeout {
			idle = append(idle, e.conn)
			delete(p.entries, k)
		}
	}
	p.mu.Unlock()
	for _, c := range idle {
		p.shutdown(c)
	}
}

// Len returns the number of connections held (for tests and metrics).
func (p *Pool) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.entries)
}

// Close stops the reaper and shuts every idle connection down.
func (p *Pool) Close() {
	select {
	case <-p.stop:
		return
	default:
	}
	close(p.stop)
	<-p.done
	p.closeIdle(time.Now().Add(p.opts.IdleTimeout + time.Hour))
}

// dial opens a connection with every setting given explicitly: only
// Options.ConfFile is read (no keyring file), and the key is passed as a
// configuration value.
func dial(t Target, o Options) (*rados.Conn, error) {
	conn, err := rados.NewConnWithUser(t.Creds.ID)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConnect, err)
	}
	if err := readConfFile(conn, o.ConfFile); err != nil {
		conn.Shutdown()
		return nil, err
	}
	settings := [][2]string{
		{"mon_host", strings.Join(t.Monitors, ",")},
		{"key", t.Creds.Key},
		{"keyring", ""},
		{"client_mount_timeout", seconds(o.ConnectTimeout)},
		{"rados_mon_op_timeout", commandTimeout(o)},
		{"rados_osd_op_timeout", seconds(o.OpTimeout)},
		{"log_to_stderr", "false"},
		{"err_to_stderr", "false"},
		{"log_file", ""},
	}
	for _, s := range settings {
		if err := conn.SetConfigOption(s[0], s[1]); err != nil {
			conn.Shutdown()
			// Never echo the value: it may be the key.
			return nil, fmt.Errorf("%w: set option %s: %v", ErrConnect, s[0], err)
		}
	}
	if err := conn.Connect(); err != nil {
		conn.Shutdown()
		return nil, fmt.Errorf("%w: cluster %q as %q: %v", ErrConnect, t.ClusterID, t.Creds.ID, err)
	}
	return conn, nil
}

// commandTimeout renders CommandTimeout: OpTimeout when 0, "0" (no
// bound) when negative.
func commandTimeout(o Options) string {
	switch {
	case o.CommandTimeout < 0:
		return "0"
	case o.CommandTimeout == 0:
		return seconds(o.OpTimeout)
	}
	return seconds(o.CommandTimeout)
}

func seconds(d time.Duration) string {
	s := int(d / time.Second)
	if s < 1 {
		s = 1
	}
	return strconv.Itoa(s)
}

// readConfFile reads path into conn's configuration if it exists.
func readConfFile(conn *rados.Conn, path string) error {
	if path == "" {
		return nil
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := conn.ReadConfigFile(path); err != nil {
		return fmt.Errorf("%w: reading %s: %v", ErrConnect, path, err)
	}
	return nil
}
