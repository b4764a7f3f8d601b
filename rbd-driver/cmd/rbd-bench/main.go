// Command rbd-bench measures the RBD driver's provisioning: N CreateVolume
// then N DeleteVolume calls at concurrency C over the driver's gRPC socket,
// the driver's memory (idle before, peak during), the time the mgr takes to
// purge the trash afterwards, and, in the same run on the same cluster, the
// bare go-ceph floor (rbd.CreateImage and rbd.RemoveImage of the same size
// and features at the same concurrency), with driver/floor ratios.
//
// It spawns bin/rbd-driver in controller mode (--driver) or targets a
// running driver (--endpoint with --pid for the memory figures). The
// cluster comes from the environment of test/cluster.sh (CEPH_MONITORS,
// CEPH_ADMIN_ID, CEPH_ADMIN_KEY, CEPH_CLUSTER_FSID, CEPH_CSI_CONFIG); the
// benchmark works in a pool of its own, deleted at the end.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// options are the command-line settings.
type options struct {
	n            int
	c            int
	size         string
	features     string
	pool         string
	driver       string
	endpoint     string
	pid          int
	memoryLimit  string
	drainTimeout time.Duration
	skipFloor    bool
	rounds       int
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "rbd-bench: %v\n", err)
		os.Exit(1)
	}
}

func parse(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("rbd-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.n, "n", 200, "volumes to create and delete")
	fs.IntVar(&o.c, "c", 32, "concurrent requests")
	fs.StringVar(&o.size, "size", "1GiB", "volume size (MiB or GiB suffix)")
	fs.StringVar(&o.features, "features", "layering", "image features, comma separated")
	fs.StringVar(&o.pool, "pool", "csi-rbd-bench", "pool to create, use and delete")
	fs.StringVar(&o.driver, "driver", "bin/rbd-driver", "driver binary to spawn in controller mode")
	fs.StringVar(&o.endpoint, "endpoint", "", "target a running driver at this endpoint instead of spawning one")
	fs.IntVar(&o.pid, "pid", 0, "with --endpoint: the driver's PID, for its memory figures")
	fs.StringVar(&o.memoryLimit, "memory-limit", "", "--memory-limit passed to the spawned driver")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", 10*time.Minute, "bound on the wait for the trash purge")
	fs.BoolVar(&o.skipFloor, "skip-floor", false, "do not measure the go-ceph floor")
	fs.IntVar(&o.rounds, "rounds", 5, "rounds of driver and floor phases; the ratios reported are the rounds' medians")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if o.n < 1 || o.c < 1 || o.rounds < 1 {
		return nil, errors.New("-n, -c and -rounds must be positive")
	}
	if _, err := parseSize(o.size); err != nil {
		return nil, err
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parse(args, os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	env, err := clusterFromEnv()
	if err != nil {
		return err
	}
	b, err := newBench(o, env)
	if err != nil {
		return err
	}
	defer b.close()
	rep, err := b.run(ctx)
	if rep != nil {
		rep.print(stdout)
	}
	return err
}

// parseSize parses 512MiB, 1GiB or a byte count.
func parseSize(s string) (uint64, error) {
	var n uint64
	var unit string
	if _, err := fmt.Sscanf(s, "%d%s", &n, &unit); err != nil && unit == "" {
		if _, err := fmt.Sscanf(s, "%d", &n); err != nil {
			return 0, fmt.Errorf("-size %q: want e.g. 1GiB", s)
		}
	}
	switch unit {
	case "":
	case "MiB":
		n <<= 20
	case "GiB":
		n <<= 30
	default:
		return 0, fmt.Errorf("-size %q: unit must be MiB or GiB", s)
	}
	if n < 1<<20 {
		return 0, fmt.Errorf("-size %q: at least 1MiB", s)
	}
	return n, nil
}
