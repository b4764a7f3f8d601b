package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
	"k8s.io/mount-utils"

	"github.com/seed-6a310834/ceph-csi/shared/execx"
	"github.com/seed-6a310834/ceph-csi/shared/logging"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/volctx"
)

// Files of the fuse attacher in a volume's work directory.
const (
	fuseMountDir = "mnt"
	fuseConfName = "ceph.conf"
	fuseLogName  = "rbd-fuse.log"
)

// cleanupTimeout bounds the rollback after a failed Attach, which runs even
// when the request's context has ended.
const cleanupTimeout = 60 * time.Second

// fuseAttacher serves the image with rbd-fuse (one image per rbd-fuse
// process, `-r IMAGE`, so that no other image of the pool is opened) and
// puts a loop device over the image file.
//
// rbd-fuse runs in the foreground (-f) in a session of its own, so it
// outlives a plugin restart; its PID goes into the Attachment. It exits by
// itself once its mountpoint is unmounted.
//
// Nothing here ever removes a directory recursively: a live rbd-fuse
// mountpoint deletes the image when its file is unlinked.
type fuseAttacher struct {
	exec         execx.Executor
	mounter      mount.Interface
	sys          System
	readyTimeout time.Duration
	stopTimeout  time.Duration
	poll         time.Duration
	cephConf     string

	// loopMu serializes `losetup --find`, which can race with itself.
	loopMu sync.Mutex
}

func newFuse(cfg Config) *fuseAttacher {
	return &fuseAttacher{
		exec: cfg.Executor, mounter: cfg.Mounter, sys: cfg.System,
		readyTimeout: cfg.ReadyTimeout, stopTimeout: cfg.StopTimeout, poll: cfg.PollInterval, cephConf: cfg.CephConf,
	}
}

// Attach implements Attacher.
func (f *fuseAttacher) Attach(ctx context.Context, r *Request) (*Attachment, error) {
	if r.WorkDir == "" {
		return nil, errors.New("fuse attacher: no work directory")
	}
	a := &Attachment{
		Mounter: volctx.MounterFuse, UnmapOptions: r.UnmapOptions, WorkDir: r.WorkDir,
		FuseMount: filepath.Join(r.WorkDir, fuseMountDir),
	}
	a.BackingFile = filepath.Join(a.FuseMount, r.Image)
	if err := f.prepare(ctx, a, r.Monitors); err != nil {
		return nil, err
	}
	if err := f.startHelper(ctx, r, a); err != nil {
		f.rollback(ctx, a)
		return nil, err
	}
	dev, err := f.setupLoop(ctx, a.BackingFile, r.ReadOnly)
	if err != nil {
		f.rollback(ctx, a)
		return nil, err
	}
	a.Device = dev
	logging.FromContext(ctx).Info("attached image with rbd-fuse", zap.String("image", r.Spec()),
		zap.Int("pid", a.HelperPID), zap.String("device", dev))
	return a, nil
}

// prepare clears what a crashed earlier attempt may have left in the work
// directory, then creates it, the mountpoint and the private ceph.conf.
func (f *fuseAttacher) prepare(ctx context.Context, a *Attachment, monitors string) error {
	if mounted, _ := f.isMounted(a.FuseMount); mounted {
		logging.FromContext(ctx).Warn("clearing a leftover rbd-fuse mount", zap.String("path", a.FuseMount))
		if err := f.Detach(ctx, a); err != nil {
			return fmt.Errorf("clearing leftover rbd-fuse mount: %w", err)
		}
	}
	if err := os.MkdirAll(a.FuseMount, 0o700); err != nil {
		return fmt.Errorf("creating rbd-fuse mountpoint: %w", err)
	}
	if err := os.Chmod(a.WorkDir, 0o700); err != nil {
		return fmt.Errorf("securing work directory: %w", err)
	}
	conf, err := f.privateConf(monitors)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(a.WorkDir, fuseConfName), []byte(conf), 0o600); err != nil {
		return fmt.Errorf("writing ceph.conf for rbd-fuse: %w", err)
	}
	return nil
}

// privateConf returns rbd-fuse's ceph.conf: the cluster-wide ceph.conf, if
// any, then a [global] section with the volume's monitors, which wins
// (Ceph merges repeated sections, the later value of an option counts).
func (f *fuseAttacher) privateConf(monitors string) ([]byte, error) {
	base, err := os.ReadFile(f.cephConf)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading %s: %w", f.cephConf, err)
	}
	if len(base) > 0 && base[len(base)-1] != '\n' {
		base = append(base, '\n')
	}
	return append(base, fmt.Sprintf("[global]\n\tmon_host = %s\n", monitors)...), nil
}

// fuseArgs returns the rbd-fuse command line.
func fuseArgs(r *Request, a *Attachment, keyring string) []string {
	args := []string{"-f", "-p", r.Pool}
	if r.Namespace != "" {
		args = append(args, "--namespace="+r.Namespace)
	}
	return append(args, "-r", r.Image, "-c", filepath.Join(a.WorkDir, fuseConfName),
		"--id", r.Creds.ID, "--keyring", keyring, a.FuseMount)
}

// startHelper starts rbd-fuse and waits until it serves the image file. The
// keyring file exists only until then: rbd-fuse has authenticated once the
// file is served and keeps the key in memory.
func (f *fuseAttacher) startHelper(ctx context.Context, r *Request, a *Attachment) error {
	return withKeyring(r.Creds, func(keyring string) error {
		p, err := f.exec.Start(ctx, execx.Helper{
			Name: "rbd-fuse", Args: fuseArgs(r, a, keyring), LogPath: filepath.Join(a.WorkDir, fuseLogName),
		})
		if err != nil {
			return fmt.Errorf("starting rbd-fuse: %w", err)
		}
		a.HelperPID = p.PID
		return f.waitReady(ctx, p, a)
	})
}

// waitReady waits until rbd-fuse serves the image file, exits, or the ready
// timeout or ctx ends. A mount without the file means that the image does
// not exist only once that has lasted the list grace: rbd-fuse lists the
// pool again on every lookup, and a listing or open that failed (under
// load, during a cluster hiccup) leaves the file out only that once.
func (f *fuseAttacher) waitReady(ctx context.Context, p *execx.Process, a *Attachment) error {
	ctx, cancel := context.WithTimeout(ctx, f.readyTimeout)
	defer cancel()
	tick := time.NewTicker(f.poll)
	defer tick.Stop()
	grace := min(f.readyTimeout/4, 5*time.Second)
	var missingSince time.Time
	for {
		done, err := f.served(a)
		switch {
		case done && errors.Is(err, ErrImageNotFound):
			if missingSince.IsZero() {
				missingSince = time.Now()
			}
			if time.Since(missingSince) >= grace {
				return fmt.Errorf("%w (for %v; log: %s)", err, grace, f.logTail(a))
			}
		case done:
			return err
		default:
			missingSince = time.Time{}
		}
		select {
		case <-p.Done():
			return fmt.Errorf("rbd-fuse exited before serving %s: %s", a.BackingFile, f.logTail(a))
		case <-ctx.Done():
			return fmt.Errorf("waiting for rbd-fuse to serve %s: %w (log: %s)", a.BackingFile, ctx.Err(), f.logTail(a))
		case <-tick.C:
		}
	}
}

// served reports whether waiting is over: the image file is there (nil
// error), or the mount is up without it (the image does not exist).
func (f *fuseAttacher) served(a *Attachment) (bool, error) {
	fi, err := f.sys.Stat(a.BackingFile)
	switch {
	case err == nil && fi.Mode().IsRegular():
		return true, nil
	case err == nil:
		return true, fmt.Errorf("rbd-fuse serves %s as %v, not as a file", a.BackingFile, fi.Mode())
	case errors.Is(err, fs.ErrNotExist):
		if mounted, _ := f.isMounted(a.FuseMount); mounted {
			return true, fmt.Errorf("%w: rbd-fuse does not list %s", ErrImageNotFound, filepath.Base(a.BackingFile))
		}
	}
	return false, nil
}

// logTail returns the last lines of the rbd-fuse log, for error messages.
func (f *fuseAttacher) logTail(a *Attachment) string {
	b, err := os.ReadFile(filepath.Join(a.WorkDir, fuseLogName))
	if err != nil || len(b) == 0 {
		return "no output"
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-3):], " | ")
}

// setupLoop puts a loop device over the image file.
func (f *fuseAttacher) setupLoop(ctx context.Context, file string, readOnly bool) (string, error) {
	args := []string{"--find", "--show", "--direct-io=on"}
	if readOnly {
		args = append(args, "--read-only")
	}
	f.loopMu.Lock()
	out, err := f.exec.Run(ctx, "losetup", append(args, file)...)
	f.loopMu.Unlock()
	if err != nil {
		return "", fmt.Errorf("setting up a loop device: %w", err)
	}
	dev := strings.TrimSpace(string(out))
	if !strings.HasPrefix(dev, "/dev/loop") {
		return "", fmt.Errorf("no loop device in the output of losetup: %q", dev)
	}
	return dev, nil
}

// rollback undoes a partial Attach, even if ctx has ended.
func (f *fuseAttacher) rollback(ctx context.Context, a *Attachment) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := f.Detach(ctx, a); err != nil {
		logging.FromContext(ctx).Error("rolling back rbd-fuse attach failed", zap.Error(err),
			zap.String("mountpoint", a.FuseMount), zap.Int("pid", a.HelperPID))
	}
}

// isMounted reports whether path is a mountpoint; a dead FUSE mount
// ("transport endpoint is not connected") counts as mounted.
func (f *fuseAttacher) isMounted(path string) (bool, error) {
	if path == "" {
		return false, nil
	}
	mounted, err := f.mounter.IsMountPoint(path)
	switch {
	case err == nil:
		return mounted, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case mount.IsCorruptedMnt(err):
		return true, nil
	}
	return false, err
}

// stopHelper makes sure the rbd-fuse process is gone: it exits by itself
// after its mountpoint was unmounted, otherwise it gets SIGTERM, then
// SIGKILL; each wait lasts up to the stop timeout.
func (f *fuseAttacher) stopHelper(ctx context.Context, a *Attachment, unmounted bool) error {
	if a.HelperPID <= 0 {
		return nil
	}
	if unmounted && f.waitExit(ctx, a, f.stopTimeout) {
		return nil
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		if !f.sys.ProcessAlive(a.HelperPID, a.FuseMount) {
			return nil
		}
		logging.FromContext(ctx).Warn("stopping rbd-fuse", zap.Int("pid", a.HelperPID), zap.Stringer("signal", sig))
		_ = f.sys.Signal(a.HelperPID, sig)
		if f.waitExit(ctx, a, f.stopTimeout) {
			return nil
		}
	}
	return fmt.Errorf("rbd-fuse process %d does not exit", a.HelperPID)
}

// waitExit waits up to d for the helper to be gone.
func (f *fuseAttacher) waitExit(ctx context.Context, a *Attachment, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for f.sys.ProcessAlive(a.HelperPID, a.FuseMount) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(f.poll)
	}
	return true
}

// FuseMountpoint returns the rbd-fuse mountpoint the fuse attacher uses in
// workDir, so that callers can tell their own helper from another's.
func FuseMountpoint(workDir string) string { return filepath.Join(workDir, fuseMountDir) }
