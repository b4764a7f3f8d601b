package audit

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/cephfs"
	"github.com/seed-6a310834/ceph-csi/shared/audit"
	"github.com/seed-6a310834/ceph-csi/shared/cephconn"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
)

const program = "cephfs-driver"

const synopsis = program + " audit --fs-name FS (--secrets-dir DIR | --keyring FILE [--id USER]) [--delete] [flags]"

const description = `Lists the orphans of the CephFS driver in one file system, in the subvolume group and
journal namespace of the cluster configuration (cephFS.subvolumeGroup, cephFS.radosNamespace):
  dangling-entry       journal directory entry whose record (UUID object) is missing
  unreferenced-record  journal record no directory entry points at (reservation never listed)
  missing-object       journal record whose subvolume or snapshot does not exist (or whose
                       subvolume was removed with its snapshots retained)
  incomplete           snapshot record never completed although its snapshot exists
  unrecorded           subvolume (csi-vol-...) or snapshot (csi-snap-..., csi-clone-...) that no
                       journal record owns
Healthy volumes, shallow volumes, snapshots and retained subvolumes (deleted volumes whose snapshots
live on) are never listed. With --delete the plan is printed first, then the orphans are removed
through the mgr: snapshots, then subvolumes, then journal records and entries. Nothing younger than
--grace, in use (pending clones, snapshots not made by the driver) or without our name prefix is
ever deleted. Credentials come from files (--secrets-dir: adminID and adminKey) or a keyring, never
from the command line.`

// Main runs `cephfs-driver audit args...` and returns the exit code
// (audit.Exit*). The report goes to stdout, errors to stderr.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(program+" "+audit.Command, flag.ContinueOnError)
	fs.SetOutput(stderr)
	common := audit.RegisterFlags(fs, "adminID and adminKey")
	o := &options{common: common}
	fs.StringVar(&o.fsName, "fs-name", "", "CephFS file system to audit (required)")
	audit.SetUsage(fs, synopsis, description)
	err := common.Parse(fs, args)
	if err == nil && o.fsName == "" {
		err = fmt.Errorf("%w: --fs-name: required", audit.ErrUsage)
	}
	if err == nil {
		err = o.run(ctx, stdout)
	}
	return audit.ExitCode(stderr, program, err)
}

// options are the parsed flags.
type options struct {
	common *audit.Flags
	fsName string
}

// poolOptions leave mgr commands unbounded, as the driver does (see
// cephconn.Options.CommandTimeout); --timeout bounds the audit.
var poolOptions = cephconn.Options{CommandTimeout: -1}

func (o *options) run(ctx context.Context, stdout io.Writer) error {
	cluster, err := o.common.Cluster()
	if err != nil {
		return err
	}
	creds, err := o.common.Credentials(credentials.AdminIDField, credentials.AdminKeyField)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.common.Timeout)
	defer cancel()
	conns := cephconn.NewPool(poolOptions)
	defer conns.Close()
	sess, err := cephfs.NewConnector(conns).Connect(ctx,
		backend.Target{ClusterID: cluster.ClusterID, Monitors: cluster.Monitors, Creds: creds})
	if err != nil {
		return err
	}
	defer sess.Release()
	fs, err := findFS(ctx, sess.Backend(), o.fsName)
	if err != nil {
		return err
	}
	ns := cluster.CephFS.RadosNamespace
	store, release, err := sess.ObjectStore(fs.MetadataPool, ns)
	if err != nil {
		return err
	}
	defer release()
	fmt.Fprintf(stdout, "auditing cluster %s, file system %s, subvolume group %s, journal %s/%s, instance %s\n",
		cluster.ClusterID, fs.Name, cluster.CephFS.SubvolumeGroup, fs.MetadataPool, ns, o.common.InstanceID)
	findings, err := Scan(ctx, Config{Backend: sess.Backend(), Store: store, StoreWhere: fs.MetadataPool + "/" + ns,
		FS: fs.Name, Group: cluster.CephFS.SubvolumeGroup, Instance: o.common.InstanceID,
		VolumePrefixes:   audit.NewPrefixes(audit.VolumePrefix, o.common.VolumePrefixes...),
		SnapshotPrefixes: audit.NewPrefixes(audit.SnapshotPrefix, o.common.SnapshotPrefixes...)})
	if err != nil {
		return err
	}
	_, err = audit.Run(ctx, findings, audit.Options{Delete: o.common.Delete, Policy: o.common.Policy(time.Now()), Out: stdout})
	return err
}

// findFS returns the file system called name.
func findFS(ctx context.Context, be backend.Backend, name string) (backend.FileSystem, error) {
	all, err := be.FileSystems(ctx)
	if err != nil {
		return backend.FileSystem{}, err
	}
	i := slices.IndexFunc(all, func(f backend.FileSystem) bool { return f.Name == name })
	if i < 0 {
		return backend.FileSystem{}, fmt.Errorf("--fs-name: no file system %q", name)
	}
	return all[i], nil
}
