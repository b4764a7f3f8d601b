package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/seed-6a310834/ceph-csi/shared/logging"
)

// Detach implements Attacher: detach every loop device over the image file,
// unmount rbd-fuse, make sure the process is gone and remove the work
// files. Each step is skipped when there is nothing to undo.
func (f *fuseAttacher) Detach(ctx context.Context, a *Attachment) error {
	if a.BackingFile != "" {
		if err := f.detachLoops(ctx, a.BackingFile, a.Device); err != nil {
			return err
		}
	}
	unmounted, err := f.unmountFuse(ctx, a.FuseMount)
	if err != nil {
		return err
	}
	if err := f.stopHelper(ctx, a, unmounted); err != nil {
		return err
	}
	return removeWorkDir(a.WorkDir, a.FuseMount)
}

// loopList is the output of `losetup --list --json`.
type loopList struct {
	LoopDevices []struct {
		Name     string  `json:"name"`
		BackFile *string `json:"back-file"`
	} `json:"loopdevices"`
}

// loopsOf returns the loop devices whose backing file is file. The device
// recorded at attach time is not trusted: after a crash it may be unknown,
// after a reboot it may be another file's. One exception: when the rbd-fuse
// mount was made in a mount namespace that is gone (the node plugin's
// previous container), the kernel names the backing file relative to the
// detached mount ("/<image> (deleted)"); the recorded device then counts if
// its backing file has that form with file's base name (the image name,
// unique to the volume).
func (f *fuseAttacher) loopsOf(ctx context.Context, file, recorded string) ([]string, error) {
	out, err := f.exec.Run(ctx, "losetup", "--list", "--json", "--output", "NAME,BACK-FILE")
	if err != nil {
		return nil, fmt.Errorf("listing loop devices: %w", err)
	}
	if len(strings.TrimSpace(string(out))) == 0 {
		return nil, nil
	}
	var list loopList
	if err := json.Unmarshal(out, &list); err != nil {
		return nil, fmt.Errorf("parsing the loop device list: %w", err)
	}
	var devs []string
	for _, d := range list.LoopDevices {
		if d.BackFile == nil {
			continue
		}
		back := strings.TrimSuffix(*d.BackFile, " (deleted)")
		if back == file || (d.Name == recorded && recorded != "" && back == "/"+filepath.Base(file)) {
			devs = append(devs, d.Name)
		}
	}
	return devs, nil
}

func (f *fuseAttacher) detachLoops(ctx context.Context, file, recorded string) error {
	devs, err := f.loopsOf(ctx, file, recorded)
	if err != nil {
		return err
	}
	for _, dev := range devs {
		if _, err := f.exec.Run(ctx, "losetup", "--detach", dev); err != nil {
			return fmt.Errorf("detaching loop device %s: %w", dev, err)
		}
		logging.FromContext(ctx).Info("detached loop device", zap.String("device", dev))
	}
	return nil
}

// unmountFuse unmounts the rbd-fuse mountpoint if mounted (also when its
// process died) and reports whether it did.
func (f *fuseAttacher) unmountFuse(ctx context.Context, mnt string) (bool, error) {
	mounted, err := f.isMounted(mnt)
	if err != nil {
		return false, fmt.Errorf("checking rbd-fuse mountpoint %s: %w", mnt, err)
	}
	if !mounted {
		return false, nil
	}
	if err := unmountWhenFree(ctx, f.mounter.Unmount, mnt); err != nil {
		return false, fmt.Errorf("unmounting rbd-fuse at %s: %w", mnt, err)
	}
	logging.FromContext(ctx).Info("unmounted rbd-fuse", zap.String("path", mnt))
	return true, nil
}

// busyRetry bounds how long unmountWhenFree retries an unmount that finds
// the mount busy.
const busyRetry = 15 * time.Second

// unmountWhenFree unmounts mnt, retrying while the kernel reports it busy:
// a loop device just detached releases its backing file asynchronously, so
// the rbd-fuse mount under it can stay busy for a moment (seen under load).
// It gives up after busyRetry or when ctx ends, with the last error.
func unmountWhenFree(ctx context.Context, unmount func(string) error, mnt string) error {
	deadline := time.Now().Add(busyRetry)
	for {
		err := unmount(mnt)
		if err == nil || !strings.Contains(err.Error(), "target is busy") || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// removeWorkDir removes the files the fuse attacher created, one by one;
// removing the mountpoint directory fails if it is still mounted.
func removeWorkDir(dir, mnt string) error {
	if dir == "" {
		return nil
	}
	paths := []string{filepath.Join(dir, fuseConfName), filepath.Join(dir, fuseLogName), mnt, dir}
	for _, p := range paths {
		if p == "" {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing %s: %w", p, err)
		}
	}
	return nil
}

// Resize implements Attacher: stat the image file so that the kernel
// fetches its new size from rbd-fuse, then make the loop device re-read it.
// With minBytes > 0, it retries until the file has at least that size (the
// kernel caches FUSE file attributes for a second), up to the ready timeout.
func (f *fuseAttacher) Resize(ctx context.Context, a *Attachment, minBytes int64) error {
	deadline := time.Now().Add(f.readyTimeout)
	for {
		fi, err := f.sys.Stat(a.BackingFile)
		if err != nil {
			return fmt.Errorf("image file: %w", err)
		}
		if _, err := f.exec.Run(ctx, "losetup", "--set-capacity", a.Device); err != nil {
			return fmt.Errorf("refreshing the size of %s: %w", a.Device, err)
		}
		if minBytes <= 0 || fi.Size() >= minBytes {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("image file %s has %d bytes, want at least %d", a.BackingFile, fi.Size(), minBytes)
		}
		time.Sleep(f.poll)
	}
}

// Check implements Attacher: the rbd-fuse process must run and serve the
// image file, and the loop device must exist.
func (f *fuseAttacher) Check(_ context.Context, a *Attachment) error {
	var errs []error
	if _, err := f.sys.Stat(a.BackingFile); err != nil {
		errs = append(errs, fmt.Errorf("image file: %w", err))
	}
	if !f.sys.ProcessAlive(a.HelperPID, a.FuseMount) {
		errs = append(errs, fmt.Errorf("rbd-fuse process %d is not running", a.HelperPID))
	}
	if _, err := f.sys.Stat(a.Device); err != nil {
		errs = append(errs, fmt.Errorf("loop device: %w", err))
	}
	return errors.Join(errs...)
}
