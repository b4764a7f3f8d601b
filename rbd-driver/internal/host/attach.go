// Package attach makes RBD images available as block devices on the node and
// removes them again. Three attachers exist, chosen by the volume context's
// "mounter": krbd (`rbd device map`), rbd-nbd (`rbd device map -t nbd`) and
// fuse (`rbd-fuse -r IMAGE` plus a loop device over the image file).
//
// Ceph keys are only ever passed in a private keyring file (mode 0600 in a
// 0700 directory, see shared/credentials) that is removed as soon as the
// command that needs it has returned: never on a command line, never in a
// log.
package host

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/mount-utils"

	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/execx"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/volctx"
)

// ErrImageNotFound is wrapped by Attach errors when the image does not exist.
var ErrImageNotFound = errors.New("RBD image not found")

// ErrUnsupportedFeatures is wrapped by Attach errors when the kernel RBD
// client does not support one of the image's features (rbd map's "feature
// set mismatch"); rbd-nbd may still map the image (tryOtherMounters).
var ErrUnsupportedFeatures = errors.New("the kernel RBD client does not support the image's features")

// ErrUnknownMounter is wrapped by the error of Attachers.Get for a mounter
// name no attacher has.
var ErrUnknownMounter = errors.New("unknown mounter")

// Request says which image to attach and how.
type Request struct {
	// VolumeID is the CSI volume ID, for logs.
	VolumeID string
	// Pool, Namespace (may be empty) and Image locate the image.
	Pool      string
	Namespace string
	Image     string
	// Monitors are the monitor addresses, comma-separated.
	Monitors string
	// Creds are the Ceph user and key used to open the image.
	Creds *credentials.Credentials
	// MapOptions and UnmapOptions are the volume context's mapOptions and
	// unmapOptions, in ceph-csi's syntax (see SelectOptions).
	MapOptions   string
	UnmapOptions string
	// ReadOnly attaches the device read-only.
	ReadOnly bool
	// WorkDir is a private directory of this volume that the attacher may
	// use (the fuse attacher keeps its mountpoint, ceph.conf and log there).
	// It is created if missing.
	WorkDir string
	// NetNamespace, when set, is a network namespace file (e.g.
	// /var/run/netns/multus): the map runs inside it (nsenter --net), as
	// ceph-csi does for rbd.netNamespaceFilePath.
	NetNamespace string
	// LogFile, when set, is rbd-nbd's log file (cephLogDir, see
	// NbdLogFile) and LogStrategy what happens to it after the unmap.
	LogFile     string
	LogStrategy string
}

// Spec returns the image spec "POOL/[NAMESPACE/]IMAGE".
func (r *Request) Spec() string {
	if r.Namespace != "" {
		return r.Pool + "/" + r.Namespace + "/" + r.Image
	}
	return r.Pool + "/" + r.Image
}

// Attachment describes an attached image. It is stored in the node's stage
// record, so that the image can be detached after a plugin restart.
type Attachment struct {
	// Mounter is the name of the attacher that made it.
	Mounter string `json:"mounter"`
	// Device is the block device, e.g. /dev/rbd0 or /dev/loop3.
	Device string `json:"device"`
	// UnmapOptions are the unmap options for the device type, from the
	// volume context at attach time.
	UnmapOptions string `json:"unmapOptions,omitempty"`
	// HelperPID is the rbd-fuse process (fuse only).
	HelperPID int `json:"helperPID,omitempty"`
	// FuseMount is the rbd-fuse mountpoint (fuse only).
	FuseMount string `json:"fuseMount,omitempty"`
	// BackingFile is the image file in FuseMount behind the loop device
	// (fuse only).
	BackingFile string `json:"backingFile,omitempty"`
	// WorkDir is the request's WorkDir (fuse only).
	WorkDir string `json:"workDir,omitempty"`
	// NetNamespace is the request's NetNamespace, used again to re-attach
	// (rbd-nbd).
	NetNamespace string `json:"netNamespace,omitempty"`
	// LogFile and LogStrategy are the request's (rbd-nbd).
	LogFile     string `json:"logFile,omitempty"`
	LogStrategy string `json:"logStrategy,omitempty"`
}

// Attacher attaches images as block devices.
type Attacher interface {
	// Attach maps the image and returns the device. On error nothing is
	// left behind.
	Attach(ctx context.Context, r *Request) (*Attachment, error)
	// Detach removes the device and everything Attach set up. It succeeds
	// when there is nothing (left) to remove.
	Detach(ctx context.Context, a *Attachment) error
	// Resize makes the device show the image's current size after the
	// image grew; minBytes > 0 is the size the image is known to have.
	Resize(ctx context.Context, a *Attachment, minBytes int64) error
	// Check returns nil if the device is usable, or an error saying why not.
	Check(ctx context.Context, a *Attachment) error
}

// Reattacher is implemented by attachers whose device outlives the process
// serving it (rbd-nbd): Reattach starts a new process for the existing
// device, e.g. after the node plugin restarted.
type Reattacher interface {
	// Alive reports whether a process serves the attachment's device.
	Alive(ctx context.Context, a *Attachment) (bool, error)
	// Reattach serves the attachment's existing device again.
	Reattach(ctx context.Context, r *Request, a *Attachment) error
}

// Config holds the dependencies of the attachers.
type Config struct {
	// Executor runs rbd, rbd-fuse, losetup. Required.
	Executor execx.Executor
	// Mounter checks and unmounts the rbd-fuse mountpoints. Required.
	Mounter mount.Interface
	// System observes files and processes; nil means this host.
	System System
	// ReadyTimeout bounds the wait for rbd-fuse to serve the image, or its
	// new size after a resize (default 60s); StopTimeout the wait for it to exit after its
	// mountpoint is unmounted (default 10s, then it is killed).
	ReadyTimeout time.Duration
	StopTimeout  time.Duration
	// PollInterval is how often those waits check (default 50ms).
	PollInterval time.Duration
	// CephConf is the cluster-wide ceph.conf (default DefaultCephConf):
	// rbd and rbd-nbd read it themselves; rbd-fuse gets a private copy
	// with the volume's monitors added. A missing file is skipped.
	CephConf string
}

// DefaultCephConf is where ceph-csi deployments mount ceph.conf (the
// ceph-config ConfigMap).
const DefaultCephConf = "/etc/ceph/ceph.conf"

// Attachers holds the attachers by mounter name.
type Attachers map[string]Attacher

// New returns the krbd, rbd-nbd and fuse attachers.
func New(cfg Config) (Attachers, error) {
	if cfg.Executor == nil || cfg.Mounter == nil {
		return nil, errors.New("attach: an Executor and a Mounter are required")
	}
	cfg = withDefaults(cfg)
	return Attachers{
		volctx.MounterKRBD: &rbdMap{exec: cfg.Executor, sys: cfg.System, kind: kindKRBD},
		volctx.MounterNBD:  &rbdMap{exec: cfg.Executor, sys: cfg.System, kind: kindNBD},
		volctx.MounterFuse: newFuse(cfg),
	}, nil
}

func withDefaults(cfg Config) Config {
	if cfg.System == nil {
		cfg.System = Host{}
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = 60 * time.Second
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 10 * time.Second
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 50 * time.Millisecond
	}
	if cfg.CephConf == "" {
		cfg.CephConf = DefaultCephConf
	}
	return cfg
}

// Get returns the attacher of mounter ("" means volctx.DefaultMounter).
func (as Attachers) Get(mounter string) (Attacher, error) {
	if mounter == "" {
		mounter = volctx.DefaultMounter
	}
	if a, ok := as[mounter]; ok {
		return a, nil
	}
	return nil, fmt.Errorf("%w %q (want one of %s)", ErrUnknownMounter, mounter,
		strings.Join(volctx.Mounters(), ", "))
}

// CredentialPrefix starts the name of every private keyring directory the
// attachers write; the node plugin removes stale ones at start
// (credentials.RemoveStale).
const CredentialPrefix = "rbd-csi-cred-"

// withKeyring writes the credentials to a private keyring file, calls fn
// with its path and removes the file when fn returns.
func withKeyring(creds *credentials.Credentials, fn func(keyring string) error) error {
	if creds == nil {
		return errors.New("no credentials")
	}
	kr, err := creds.WriteKeyring(CredentialPrefix)
	if err != nil {
		return err
	}
	defer func() { _ = kr.Remove() }()
	return fn(kr.Path)
}

// SelectOptions picks the options for one device type out of a ceph-csi
// style option string: entries separated by ";", each either plain
// ("lock_on_read,queue_depth=1024", for every type) or prefixed with a type
// ("krbd:lock_on_read;nbd:try-netlink"). The selected entries are joined
// with ",".
func SelectOptions(opts, kind string) string {
	var out []string
	for _, part := range strings.Split(opts, ";") {
		part = strings.TrimSpace(part)
		if prefix, rest, ok := strings.Cut(part, ":"); ok && isKind(prefix) {
			if prefix != kind {
				continue
			}
			part = strings.TrimSpace(rest)
		}
		if part != "" {
			out = append(out, part)
		}
	}
	return strings.Join(out, ",")
}

func isKind(s string) bool { return s == kindKRBD || s == kindNBD }
