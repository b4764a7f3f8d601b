// Package host mounts CephFS directories at staging paths with the
// kernel client (`mount -t ceph`) or ceph-fuse, through execx so that the
// command lines can be tested with a fake, and handles the local mount
// table: bind mounts, unmounts and health checks of mount points.
//
// Keys never appear on a command line: each mount writes them to a private
// 0600 file in a private 0700 directory (shared/credentials) and removes it
// once the mount command returned, i.e. once the mount is up.
package host

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/execx"
)

// Request is one CephFS mount.
type Request struct {
	// Target is the directory to mount on (the staging path).
	Target string
	// Monitors are the cluster's monitor addresses.
	Monitors []string
	// FSName is the file system to mount; "" mounts the cluster's default
	// file system (static volumes without fsName, as ceph-csi does).
	FSName string
	// Path is the directory of the file system to mount, e.g. the
	// subvolume path.
	Path string
	// Creds authenticate the client.
	Creds *credentials.Credentials
	// Options are extra mount options (kernelMountOptions or
	// fuseMountOptions, and the capability's mount flags).
	Options []string
	// NetNamespace, when set, is the network namespace file the mount
	// runs in (nsenter --net), as ceph-csi does for
	// cephFS.netNamespaceFilePath.
	NetNamespace string
}

// inNetNamespace returns the command that runs prog with args inside the
// request's network namespace, or prog itself without one.
func (r Request) inNetNamespace(prog string, args []string) (string, []string) {
	if r.NetNamespace == "" {
		return prog, args
	}
	return "nsenter", append([]string{"--net=" + r.NetNamespace, "--", prog}, args...)
}

func (r Request) validate() error {
	switch {
	case r.Target == "", r.Path == "", len(r.Monitors) == 0:
		return errors.New("mount request needs a target, a path and monitors")
	case r.Creds == nil:
		return errors.New("mount request needs credentials")
	}
	return nil
}

// Mounter mounts a CephFS directory.
type Mounter interface {
	// Mount mounts r.Path of r.FSName on r.Target. The mount is up when it
	// returns nil.
	Mount(ctx context.Context, r Request) error
}

// SplitOptions splits a comma-separated option string, dropping empty
// items.
func SplitOptions(s string) []string {
	var out []string
	for _, o := range strings.Split(s, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
}

// Kernel mounts with the kernel CephFS client:
//
//	mount -t ceph MON1,MON2:/path TARGET -o name=USER,secretfile=FILE[,mds_namespace=FS][,options]
type Kernel struct {
	Exec execx.Executor
}

// CredentialPrefix starts the name of every private keyring or secret-file
// directory the mounters write; the node plugin removes stale ones at start
// (credentials.RemoveStale).
const CredentialPrefix = "cephfs-csi-cred-"

// Mount implements Mounter.
func (k *Kernel) Mount(ctx context.Context, r Request) error {
	if err := r.validate(); err != nil {
		return err
	}
	monitors, err := kernelMonitors(r.Monitors)
	if err != nil {
		return err
	}
	secret, err := r.Creds.WriteSecretFile(CredentialPrefix)
	if err != nil {
		return err
	}
	defer secret.Remove() //nolint:errcheck // best effort; the directory is private
	opts := []string{"name=" + r.Creds.ID, "secretfile=" + secret.Path}
	if r.FSName != "" {
		opts = append(opts, "mds_namespace="+r.FSName)
	}
	opts = append(opts, r.Options...)
	prog, args := r.inNetNamespace("mount", []string{"-t", "ceph", monitors + ":" + r.Path, r.Target, "-o", strings.Join(opts, ",")})
	_, err = k.Exec.Run(ctx, prog, args...)
	return err
}

// kernelMonitors renders the monitors for the kernel's mount source, which
// takes plain msgr1 addresses: a "v1:" prefix is dropped, "v2:" addresses
// are left out, and an address vector ("[v2:A,v1:B]") gives its v1 address.
func kernelMonitors(monitors []string) (string, error) {
	var out []string
	for _, m := range monitors {
		addrs := []string{m}
		if strings.HasPrefix(m, "[v") && strings.HasSuffix(m, "]") {
			addrs = strings.Split(strings.Trim(m, "[]"), ",")
		}
		for _, a := range addrs {
			switch a = strings.TrimSpace(a); {
			case strings.HasPrefix(a, "v2:"):
			case strings.HasPrefix(a, "v1:"):
				out = append(out, strings.TrimPrefix(a, "v1:"))
			case a != "":
				out = append(out, a)
			}
		}
	}
	if len(out) == 0 {
		return "", fmt.Errorf("the kernel client needs a v1 monitor address; the cluster configuration lists only %q", monitors)
	}
	return strings.Join(out, ","), nil
}

// DefaultFuseBinary is the ceph-fuse program.
const DefaultFuseBinary = "ceph-fuse"

// Fuse mounts with ceph-fuse, which daemonizes once the mount is up:
//
//	ceph-fuse TARGET -m MONS --id USER --keyring FILE --client_mountpoint=PATH [--client_fs=FS] [-o options]
//
// The command runs detached (execx.Executor.RunDetached: setsid), so the
// daemon does not belong to the plugin's process group or session and
// survives a plugin restart.
type Fuse struct {
	Exec execx.Executor
	// Binary is the ceph-fuse program; default DefaultFuseBinary.
	Binary string
}

// Mount implements Mounter.
func (f *Fuse) Mount(ctx context.Context, r Request) error {
	if err := r.validate(); err != nil {
		return err
	}
	keyring, err := r.Creds.WriteKeyring(CredentialPrefix)
	if err != nil {
		return err
	}
	defer keyring.Remove() //nolint:errcheck // best effort; the directory is private
	args := []string{r.Target, "-m", strings.Join(r.Monitors, ","), "--id", r.Creds.ID,
		"--keyring", keyring.Path, "--client_mountpoint=" + r.Path}
	if r.FSName != "" {
		args = append(args, "--client_fs="+r.FSName)
	}
	if len(r.Options) > 0 {
		args = append(args, "-o", strings.Join(r.Options, ","))
	}
	prog, args := r.inNetNamespace(f.binary(), args)
	_, err = f.Exec.RunDetached(ctx, prog, args...)
	return err
}

func (f *Fuse) binary() string {
	if f.Binary == "" {
		return DefaultFuseBinary
	}
	return f.Binary
}
