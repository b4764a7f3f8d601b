package audit

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/cephrbd"
	"github.com/seed-6a310834/ceph-csi/shared/audit"
	"github.com/seed-6a310834/ceph-csi/shared/cephconn"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
)

const program = "rbd-driver"

const synopsis = program + " audit --pool POOL (--secrets-dir DIR | --keyring FILE [--id USER]) [--delete] [flags]"

const description = `Lists the orphans of the RBD driver in one pool and RADOS namespace:
  dangling-entry       journal directory entry whose record (UUID object) is missing
  unreferenced-record  journal record no directory entry points at (reservation never listed)
  missing-object       journal record whose image or RBD snapshot does not exist
  incomplete           journal record never completed although its image or snapshot exists
  unrecorded           image (csi-vol-..., csi-tomb-...) or snapshot (csi-snap-..., csi-clone-...)
                       that no journal record owns
Healthy volumes, snapshots and tombs (deleted volumes whose snapshots live on) are never listed.
With --delete the plan is printed first, then the orphans are removed: snapshots, then images
(through the RBD trash and the mgr, as the driver does), then journal records and entries.
Nothing younger than --grace, in use (watchers, snapshots not made by the driver) or without our
name prefix is ever deleted. Credentials come from files (--secrets-dir: userID and userKey) or a
keyring, never from the command line.`

// Main runs `rbd-driver audit args...` and returns the exit code
// (audit.Exit*). The report goes to stdout, errors to stderr.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(program+" "+audit.Command, flag.ContinueOnError)
	fs.SetOutput(stderr)
	common := audit.RegisterFlags(fs, "userID and userKey")
	o := &options{common: common}
	fs.StringVar(&o.pool, "pool", "", "pool of the images to audit (required)")
	fs.StringVar(&o.journalPool, "journal-pool", "", "pool of the journal directories of earlier layouts (this driver's old journalPool volumes, ceph-csi's pre-v3.11 topology volumes: the StorageClass pool) and of group snapshot records (VolumeGroupSnapshotClass journalPool); default: --pool")
	fs.StringVar(&o.namespace, "rados-namespace", "", "RADOS namespace (default: rbd.radosNamespace of the cluster configuration)")
	audit.SetUsage(fs, synopsis, description)
	err := common.Parse(fs, args)
	if err == nil && o.pool == "" {
		err = fmt.Errorf("%w: --pool: required", audit.ErrUsage)
	}
	if err == nil {
		fs.Visit(func(f *flag.Flag) { o.namespaceSet = o.namespaceSet || f.Name == "rados-namespace" })
		err = o.run(ctx, stdout)
	}
	return audit.ExitCode(stderr, program, err)
}

// options are the parsed flags.
type options struct {
	common       *audit.Flags
	pool         string
	journalPool  string
	namespace    string
	namespaceSet bool
}

func (o *options) run(ctx context.Context, stdout io.Writer) error {
	cluster, err := o.common.Cluster()
	if err != nil {
		return err
	}
	if !o.namespaceSet {
		o.namespace = cluster.RBD.RadosNamespace
	}
	creds, err := o.common.Credentials(credentials.UserIDField, credentials.UserKeyField)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.common.Timeout)
	defer cancel()
	conns := cephconn.NewPool(cephconn.Options{})
	defer conns.Close()
	sess, err := cephrbd.New(conns, cephrbd.Options{}).Connect(ctx,
		backend.Target{ClusterID: cluster.ClusterID, Monitors: cluster.Monitors, Creds: creds})
	if err != nil {
		return err
	}
	defer sess.Release()
	inv, ok := sess.(backend.Inventory)
	if !ok {
		return errors.New("the RBD backend cannot list images")
	}
	fmt.Fprintf(stdout, "auditing cluster %s, pool %s, namespace %q, journal pool %s, instance %s\n",
		cluster.ClusterID, o.pool, o.namespace, or(o.journalPool, o.pool), o.common.InstanceID)
	findings, err := Scan(ctx, Config{Session: inv, Pool: o.pool, Namespace: o.namespace, JournalPool: o.journalPool,
		Instance:         o.common.InstanceID,
		VolumePrefixes:   audit.NewPrefixes(audit.VolumePrefix, o.common.VolumePrefixes...),
		SnapshotPrefixes: audit.NewPrefixes(audit.SnapshotPrefix, o.common.SnapshotPrefixes...)})
	if err != nil {
		return err
	}
	_, err = audit.Run(ctx, findings, audit.Options{Delete: o.common.Delete, Policy: o.common.Policy(time.Now()), Out: stdout})
	return err
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
