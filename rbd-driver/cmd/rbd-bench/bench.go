package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/cephrbd/cephrbdtest"
	"github.com/seed-6a310834/ceph-csi/shared/benchquiet"
)

// clusterEnv is the cluster as test/cluster.sh describes it.
type clusterEnv struct {
	monitors  []string
	adminID   string
	adminKey  string
	clusterID string
	csiConfig string
}

func clusterFromEnv() (*clusterEnv, error) {
	e := &clusterEnv{adminID: os.Getenv("CEPH_ADMIN_ID"), adminKey: os.Getenv("CEPH_ADMIN_KEY"),
		clusterID: os.Getenv("CEPH_CLUSTER_FSID"), csiConfig: os.Getenv("CEPH_CSI_CONFIG")}
	if m := os.Getenv("CEPH_MONITORS"); m != "" {
		e.monitors = strings.Split(m, ",")
	}
	if len(e.monitors) == 0 || e.adminID == "" || e.adminKey == "" || e.clusterID == "" || e.csiConfig == "" {
		return nil, errors.New("source the cluster environment first (test/cluster.sh env): CEPH_MONITORS, " +
			"CEPH_ADMIN_ID, CEPH_ADMIN_KEY, CEPH_CLUSTER_FSID and CEPH_CSI_CONFIG are needed")
	}
	return e, nil
}

// bench is one benchmark run.
type bench struct {
	o      *options
	env    *clusterEnv
	size   uint64
	admin  *cephrbdtest.Admin
	driver *driverProc
	client csi.ControllerClient
	grpc   *grpc.ClientConn
}

func newBench(o *options, env *clusterEnv) (*bench, error) {
	size, _ := parseSize(o.size)
	admin, err := cephrbdtest.Connect(env.monitors, env.adminID, env.adminKey)
	if err != nil {
		return nil, err
	}
	return &bench{o: o, env: env, size: size, admin: admin}, nil
}

func (b *bench) close() {
	if b.grpc != nil {
		_ = b.grpc.Close()
	}
	if b.driver != nil {
		b.driver.stop()
	}
	_ = b.admin.DeletePool(b.o.pool)
	b.admin.Close()
}

// run measures everything and returns the report: the driver is started
// and warmed up once, then each round measures the driver's and the
// floor's phases on a quiet cluster.
func (b *bench) run(ctx context.Context) (*report, error) {
	if err := b.admin.MakePool(b.o.pool); err != nil {
		return nil, err
	}
	rep := &report{n: b.o.n, c: b.o.c, size: b.size, features: b.o.features}
	if err := b.startDriver(ctx); err != nil {
		return nil, err
	}
	rep.rssIdle = b.driver.rss()
	if err := b.warmUp(ctx); err != nil {
		return nil, err
	}
	for i := 0; i < b.o.rounds; i++ {
		// Odd rounds measure the floor first, so that whatever the
		// previous phases leave behind weighs on both sides alike.
		r := &round{floorFirst: i%2 == 1 && !b.o.skipFloor}
		rep.rounds = append(rep.rounds, r)
		if err := b.runRound(ctx, rep, r); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// runRound measures the driver's phases (then waits for the trash to
// drain) and the floor's, each on a quiet cluster, in the round's order.
func (b *bench) runRound(ctx context.Context, rep *report, r *round) error {
	driver := func() error {
		if err := b.settle(&r.settleDriver); err != nil {
			return err
		}
		if err := b.driverPhases(ctx, rep, r); err != nil {
			return err
		}
		start := time.Now()
		c, err := b.admin.WaitEmpty(b.o.pool, "", b.o.drainTimeout)
		r.drain = time.Since(start)
		if err != nil || !c.Empty() {
			return fmt.Errorf("the pool did not drain within %s: %v (%v)", b.o.drainTimeout, c, err)
		}
		return nil
	}
	floor := func() error {
		if b.o.skipFloor {
			return nil
		}
		if err := b.settle(&r.settleFloor); err != nil {
			return err
		}
		return b.floorPhases(ctx, r)
	}
	if r.floorFirst {
		driver, floor = floor, driver
	}
	if err := driver(); err != nil {
		return err
	}
	return floor()
}

// settle waits, before a measured phase, until the OSDs have finished
// removing the placement groups of pools deleted earlier (by tests or the
// previous run) and the local Ceph daemons are idle (no compaction or
// purge backlog left), recording how long that took.
func (b *bench) settle(waited *time.Duration) error {
	start := time.Now()
	defer func() { *waited = time.Since(start) }()
	if _, err := b.admin.WaitPGRemoval(b.o.drainTimeout); err != nil {
		return err
	}
	_, err := benchquiet.Wait(benchquiet.Options{Timeout: b.o.drainTimeout})
	return err
}

func (b *bench) startDriver(ctx context.Context) error {
	var err error
	if b.o.endpoint != "" {
		b.driver = &driverProc{pid: b.o.pid, endpoint: b.o.endpoint}
	} else if b.driver, err = spawnDriver(ctx, b.o, b.env); err != nil {
		return err
	}
	b.grpc, err = grpc.NewClient(b.driver.endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	b.client = csi.NewControllerClient(b.grpc)
	return nil
}

// warmUp creates and deletes one volume, unmeasured, so that the driver's
// connection to the cluster exists before the measurement (the floor uses
// an established connection too).
func (b *bench) warmUp(ctx context.Context) error {
	req := b.createRequest(-1)
	req.Name = "pvc-bench-warmup"
	resp, err := b.client.CreateVolume(ctx, req)
	if err != nil {
		return fmt.Errorf("warm-up CreateVolume: %w", err)
	}
	_, err = b.client.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: resp.GetVolume().GetVolumeId(), Secrets: b.secrets()})
	if err != nil {
		return fmt.Errorf("warm-up DeleteVolume: %w", err)
	}
	// Let the mgr purge the warm-up image: the measurement starts on a
	// quiet cluster, as the floor's does.
	if c, err := b.admin.WaitEmpty(b.o.pool, "", b.o.drainTimeout); err != nil || !c.Empty() {
		return fmt.Errorf("warm-up: the pool did not drain: %v (%v)", c, err)
	}
	return nil
}

// driverPhases creates then deletes N volumes through the driver while
// sampling its memory.
func (b *bench) driverPhases(ctx context.Context, rep *report, r *round) error {
	sampler := b.driver.sample(10 * time.Millisecond)
	ids := make([]string, b.o.n)
	r.create = runPhase(ctx, b.driver.pid, b.o.n, b.o.c, func(ctx context.Context, i int) error {
		resp, err := b.client.CreateVolume(ctx, b.createRequest(i))
		if err == nil {
			ids[i] = resp.GetVolume().GetVolumeId()
		}
		return err
	})
	r.delete = runPhase(ctx, b.driver.pid, b.o.n, b.o.c, func(ctx context.Context, i int) error {
		if ids[i] == "" {
			return nil
		}
		_, err := b.client.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: ids[i], Secrets: b.secrets()})
		return err
	})
	peak, hwm := sampler.stop()
	rep.rssPeak, rep.hwm = max(rep.rssPeak, peak), max(rep.hwm, hwm)
	return errors.Join(r.create.err, r.delete.err)
}

func (b *bench) secrets() map[string]string {
	return map[string]string{"userID": b.env.adminID, "userKey": b.env.adminKey}
}

func (b *bench) createRequest(i int) *csi.CreateVolumeRequest {
	return &csi.CreateVolumeRequest{
		Name:          fmt.Sprintf("pvc-bench-%05d", i),
		CapacityRange: &csi.CapacityRange{RequiredBytes: int64(b.size)},
		VolumeCapabilities: []*csi.VolumeCapability{{
			AccessType: &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}},
			AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
		}},
		Parameters: map[string]string{"clusterID": b.env.clusterID, "pool": b.o.pool, "imageFeatures": b.o.features},
		Secrets:    b.secrets(),
	}
}

// floorPhases runs the same creates and removes with bare librbd calls.
func (b *bench) floorPhases(ctx context.Context, r *round) error {
	floor, err := cephrbdtest.NewFloor(b.admin, b.o.pool, strings.Split(b.o.features, ","))
	if err != nil {
		return err
	}
	defer floor.Close()
	name := func(i int) string { return fmt.Sprintf("floor-%05d", i) }
	r.floorCreate = runPhase(ctx, os.Getpid(), b.o.n, b.o.c, func(_ context.Context, i int) error {
		return floor.Create(name(i), b.size)
	})
	r.floorRemove = runPhase(ctx, os.Getpid(), b.o.n, b.o.c, func(_ context.Context, i int) error {
		return floor.Remove(name(i))
	})
	return errors.Join(r.floorCreate.err, r.floorRemove.err)
}
