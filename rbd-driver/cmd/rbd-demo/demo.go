package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/volctx"
)

// volume is one volume of the demo and how far it got.
type volume struct {
	role      string // "volume" or "restored"
	name      string
	vol       *csi.Volume
	staging   string
	target    string
	staged    bool
	published bool
}

// demo runs the lifecycle over one CSI connection.
type demo struct {
	cfg     *config
	conn    *grpc.ClientConn
	ctrl    csi.ControllerClient
	node    csi.NodeClient
	secrets map[string]string
	out     io.Writer
	start   time.Time

	orig, restored *volume
	snap           *csi.Snapshot
	message        string
}

func newDemo(cfg *config, key string, out io.Writer) (*demo, error) {
	conn, err := grpc.NewClient(cfg.endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", cfg.endpoint, err)
	}
	suffix := uuid.NewString()[:8]
	vol := func(role, name string) *volume {
		return &volume{role: role, name: name + "-" + suffix, staging: filepath.Join(cfg.workDir, name, "staging"),
			target: filepath.Join(cfg.workDir, name, "target")}
	}
	return &demo{
		cfg: cfg, conn: conn, ctrl: csi.NewControllerClient(conn), node: csi.NewNodeClient(conn),
		secrets: map[string]string{"userID": cfg.userID, "userKey": key}, out: out,
		orig: vol("volume", "demo-vol"), restored: vol("restored", "demo-restore"),
		message: "hello from rbd-demo " + suffix + "\n",
	}, nil
}

func (d *demo) close() { _ = d.conn.Close() }

// step runs fn, printing one line with the step's name, fn's detail and
// the time it took.
func (d *demo) step(ctx context.Context, name string, fn func(context.Context) (string, error)) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.timeout)
	defer cancel()
	begin := time.Now()
	detail, err := fn(ctx)
	took := time.Since(begin).Seconds()
	if err != nil {
		fmt.Fprintf(d.out, "%-34s FAILED after %.2fs: %v\n", name, took, err)
		return fmt.Errorf("%s: %w", name, err)
	}
	fmt.Fprintf(d.out, "%-34s %6.2fs  %s\n", name, took, detail)
	return nil
}

// run runs every step; after a failure it removes what it created.
func (d *demo) run(ctx context.Context) error {
	d.start = time.Now()
	steps := []struct {
		name string
		fn   func(context.Context) (string, error)
	}{
		{"create volume", d.createVolume},
		{"stage (" + d.cfg.mounter + ")", func(ctx context.Context) (string, error) { return d.stage(ctx, d.orig) }},
		{"publish", func(ctx context.Context) (string, error) { return d.publish(ctx, d.orig) }},
		{"write a file", d.writeFile},
		{"snapshot", d.snapshot},
		{"restore into a new volume", d.restore},
		{"stage restored volume", func(ctx context.Context) (string, error) { return d.stage(ctx, d.restored) }},
		{"publish restored volume", func(ctx context.Context) (string, error) { return d.publish(ctx, d.restored) }},
		{"read the file back", d.readBack},
		{fmt.Sprintf("expand to %d MiB", d.cfg.expandMiB), d.expand},
	}
	for _, s := range steps {
		if err := d.step(ctx, s.name, s.fn); err != nil {
			d.teardown(context.WithoutCancel(ctx))
			return err
		}
	}
	if err := d.teardown(ctx); err != nil {
		return err
	}
	fmt.Fprintf(d.out, "%-34s %6.2fs\n", "lifecycle done", time.Since(d.start).Seconds())
	return nil
}

// teardown unpublishes, unstages and deletes whatever exists, each as a
// step; it goes on after a failure and returns the first error.
func (d *demo) teardown(ctx context.Context) error {
	var first error
	note := func(err error) {
		if first == nil {
			first = err
		}
	}
	for _, v := range []*volume{d.restored, d.orig} {
		if v.published || v.staged {
			note(d.step(ctx, "unpublish + unstage "+v.role, func(ctx context.Context) (string, error) { return d.unstage(ctx, v) }))
		}
	}
	if d.restored.vol != nil {
		note(d.step(ctx, "delete restored volume", func(ctx context.Context) (string, error) { return d.deleteVolume(ctx, d.restored) }))
	}
	if d.snap != nil {
		note(d.step(ctx, "delete snapshot", d.deleteSnapshot))
	}
	if d.orig.vol != nil {
		note(d.step(ctx, "delete volume", func(ctx context.Context) (string, error) { return d.deleteVolume(ctx, d.orig) }))
	}
	return first
}

// capability is the demo volumes' capability.
func (d *demo) capability() *csi.VolumeCapability {
	return &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: d.cfg.fsType}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
	}
}

// parameters are the StorageClass parameters of the demo volumes.
func (d *demo) parameters() map[string]string {
	return map[string]string{
		"clusterID": d.cfg.clusterID, "pool": d.cfg.pool, "mounter": d.cfg.mounter,
		volctx.FsType: d.cfg.fsType,
	}
}

func mib(bytes int64) int64 { return bytes >> 20 }
