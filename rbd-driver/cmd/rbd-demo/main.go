// Command rbd-demo drives the whole life of an RBD volume through a running
// rbd-driver's CSI socket, printing one line per step with its duration:
// create, stage (rbd-fuse), publish, write a file, snapshot, restore into a
// new volume, stage it and read the file back, expand it, unpublish and
// unstage, delete. test/demo-rbd.sh runs it against the local cluster.
//
// The Ceph key is read from the environment (CEPH_ADMIN_KEY by default),
// never from the command line.
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

// config holds the demo's settings.
type config struct {
	endpoint  string
	clusterID string
	pool      string
	mounter   string
	fsType    string
	sizeMiB   int64
	expandMiB int64
	workDir   string
	userID    string
	keyEnv    string
	timeout   time.Duration
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stderr, "rbd-demo: %v\n", err)
		}
		os.Exit(1)
	}
}

// run parses args and runs the demo, writing its report to stdout.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	key := os.Getenv(cfg.keyEnv)
	if key == "" {
		return fmt.Errorf("the environment variable %s (the Ceph key of %q) is not set", cfg.keyEnv, cfg.userID)
	}
	d, err := newDemo(cfg, key, stdout)
	if err != nil {
		return err
	}
	defer d.close()
	return d.run(ctx)
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("rbd-demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &config{}
	fs.StringVar(&c.endpoint, "endpoint", "", "CSI endpoint of rbd-driver, e.g. unix:///tmp/rbd.sock (required)")
	fs.StringVar(&c.clusterID, "cluster-id", os.Getenv("CEPH_CLUSTER_FSID"), "clusterID of the cluster configuration")
	fs.StringVar(&c.pool, "pool", "", "pool for the demo's images (required)")
	fs.StringVar(&c.mounter, "mounter", "fuse", "mounter: krbd, rbd-nbd or fuse")
	fs.StringVar(&c.fsType, "fs-type", "xfs", "filesystem: xfs (grows online) or ext4")
	fs.Int64Var(&c.sizeMiB, "size-mib", 320, "size of the volume in MiB (xfs needs more than 300)")
	fs.Int64Var(&c.expandMiB, "expand-mib", 512, "size in MiB the restored volume is expanded to")
	fs.StringVar(&c.workDir, "work-dir", "", "directory for the staging and target paths (required)")
	fs.StringVar(&c.userID, "user-id", envOr("CEPH_ADMIN_ID", "admin"), "Ceph user")
	fs.StringVar(&c.keyEnv, "key-env", "CEPH_ADMIN_KEY", "environment variable holding the user's key")
	fs.DurationVar(&c.timeout, "rpc-timeout", 2*time.Minute, "timeout of each CSI call")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	for name, v := range map[string]string{"endpoint": c.endpoint, "cluster-id": c.clusterID, "pool": c.pool, "work-dir": c.workDir} {
		if v == "" {
			return nil, fmt.Errorf("--%s is required", name)
		}
	}
	if c.expandMiB <= c.sizeMiB {
		return nil, errors.New("--expand-mib must be larger than --size-mib")
	}
	return c, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
