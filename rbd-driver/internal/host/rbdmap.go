package host

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/seed-6a310834/ceph-csi/shared/execx"
	"github.com/seed-6a310834/ceph-csi/shared/logging"
	"go.uber.org/zap"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/volctx"
)

// Device types, also the prefixes of per-type entries in
// mapOptions/unmapOptions.
const (
	kindKRBD = "krbd"
	kindNBD  = "nbd"
)

// ceph-csi's rbd-nbd defaults, added unless the map options name them:
// the netlink interface, a 300 s window for a new rbd-nbd process to
// re-attach to a device whose process died, no I/O timeout, and the volume
// ID as the device's cookie (so that re-attach finds it).
const (
	nbdNetlink         = "try-netlink"
	nbdReattachTimeout = "reattach-timeout"
	nbdIOTimeout       = "io-timeout"
	defaultNbdReattach = 300
	defaultNbdIO       = 0
)

// rbdMap attaches with the kernel RBD client (`rbd map`) or rbd-nbd
// (`rbd-nbd map`, which daemonizes), with the command lines ceph-csi runs.
type rbdMap struct {
	exec execx.Executor
	sys  System
	kind string
}

var _ Reattacher = (*rbdMap)(nil)

// mounter returns the volume-context mounter name of the attacher.
func (m *rbdMap) mounter() string {
	if m.kind == kindNBD {
		return volctx.MounterNBD
	}
	return volctx.MounterKRBD
}

// authArgs are the leading arguments of rbd and rbd-nbd.
func authArgs(r *Request, keyring string) []string {
	return []string{"--id", r.Creds.ID, "-m", r.Monitors, "--keyring=" + keyring}
}

// krbdOptions are the map/unmap arguments of krbd: noudev lets rbd map
// from a network namespace other than the initial one (Multus), as in
// ceph-csi; the user's options come after it and may override it.
func krbdOptions(userOpts string) []string {
	args := []string{"--device-type", kindKRBD, "--options", "noudev"}
	if userOpts != "" {
		args = append(args, "--options", userOpts)
	}
	return args
}

// nbdOptions are the map/attach arguments of rbd-nbd: the defaults the
// user's options do not name, the cookie, then each user option as a flag.
func nbdOptions(userOpts, cookie string) []string {
	var args []string
	if !strings.Contains(userOpts, nbdNetlink) {
		args = append(args, "--"+nbdNetlink)
	}
	if !strings.Contains(userOpts, nbdReattachTimeout) {
		args = append(args, "--"+nbdReattachTimeout+"="+strconv.Itoa(defaultNbdReattach))
	}
	if !strings.Contains(userOpts, nbdIOTimeout) {
		args = append(args, "--"+nbdIOTimeout+"="+strconv.Itoa(defaultNbdIO))
	}
	if cookie != "" {
		args = append(args, "--cookie="+cookie)
	}
	return append(args, userFlags(userOpts)...)
}

// userFlags turns "a,b=1" into "--a", "--b=1" (rbd-nbd takes flags).
func userFlags(opts string) []string {
	var out []string
	for _, o := range strings.Split(opts, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, "--"+o)
		}
	}
	return out
}

// mapCommand returns the program and arguments that map r's image.
func (m *rbdMap) mapCommand(r *Request, keyring string) (string, []string) {
	opts := SelectOptions(r.MapOptions, m.kind)
	prog, args := "rbd", authArgs(r, keyring)
	if m.kind == kindNBD {
		prog = "rbd-nbd"
		args = append(append(args, logArgs(r)...), "map", r.Spec())
		args = append(args, nbdOptions(opts, r.VolumeID)...)
	} else {
		args = append(append(args, "map", r.Spec()), krbdOptions(opts)...)
	}
	if r.ReadOnly {
		args = append(args, "--read-only")
	}
	return prog, args
}

// logArgs are rbd-nbd's log file arguments, as ceph-csi passes them.
func logArgs(r *Request) []string {
	if r.LogFile == "" {
		return nil
	}
	return []string{"--log-file", r.LogFile}
}

// run runs a command, inside the network namespace when one is set.
func run(ctx context.Context, ex execx.Executor, netns, prog string, args []string) ([]byte, error) {
	if netns != "" {
		return ex.Run(ctx, "nsenter", append([]string{"--net=" + netns, "--", prog}, args...)...)
	}
	return ex.Run(ctx, prog, args...)
}

// Attach implements Attacher.
func (m *rbdMap) Attach(ctx context.Context, r *Request) (*Attachment, error) {
	var out []byte
	err := withKeyring(r.Creds, func(keyring string) error {
		prog, args := m.mapCommand(r, keyring)
		var err error
		out, err = run(ctx, m.exec, r.NetNamespace, prog, args)
		return err
	})
	if err != nil {
		return nil, mapError(r, err)
	}
	dev, err := devicePath(out)
	if err != nil {
		return nil, fmt.Errorf("mapping %s: %w", r.Spec(), err)
	}
	logging.FromContext(ctx).Info("mapped image", zap.String("image", r.Spec()),
		zap.String("mounter", m.mounter()), zap.String("device", dev))
	a := &Attachment{Mounter: m.mounter(), Device: dev, UnmapOptions: r.UnmapOptions, NetNamespace: r.NetNamespace}
	if m.kind == kindNBD {
		a.LogFile, a.LogStrategy = r.LogFile, r.LogStrategy
	}
	return a, nil
}

// mapError classifies a failed map.
func mapError(r *Request, err error) error {
	msg := err.Error()
	switch {
	case execx.ExitCode(err) == 2 && strings.Contains(msg, "No such file or directory"):
		return fmt.Errorf("%w: %s: %w", ErrImageNotFound, r.Spec(), err)
	case strings.Contains(msg, "feature set mismatch") || strings.Contains(msg, "unsupported features"):
		return fmt.Errorf("%w: %s: %w", ErrUnsupportedFeatures, r.Spec(), err)
	}
	return fmt.Errorf("mapping %s: %w", r.Spec(), err)
}

// devicePath returns the device the map printed: its last non-empty line
// of output.
func devicePath(out []byte) (string, error) {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	dev := strings.TrimSpace(lines[len(lines)-1])
	if !strings.HasPrefix(dev, "/dev/") {
		return "", fmt.Errorf("no device path in the output of the map: %q", string(out))
	}
	return dev, nil
}

// unmapCommand returns the program and arguments that unmap a device.
func (m *rbdMap) unmapCommand(a *Attachment) (string, []string) {
	opts := SelectOptions(a.UnmapOptions, m.kind)
	if m.kind == kindNBD {
		return "rbd-nbd", append([]string{"unmap", a.Device}, userFlags(opts)...)
	}
	return "rbd", append([]string{"unmap", a.Device}, krbdOptions(opts)...)
}

// Detach implements Attacher. A device that no longer exists counts as
// unmapped.
func (m *rbdMap) Detach(ctx context.Context, a *Attachment) error {
	if a.Device == "" || !exists(m.sys, a.Device) {
		return nil
	}
	prog, args := m.unmapCommand(a)
	if _, err := m.exec.Run(ctx, prog, args...); err != nil {
		if !exists(m.sys, a.Device) {
			return nil
		}
		return fmt.Errorf("unmapping %s: %w", a.Device, err)
	}
	logging.FromContext(ctx).Info("unmapped device", zap.String("device", a.Device))
	if err := finishLog(a.LogFile, a.LogStrategy); err != nil {
		logging.FromContext(ctx).Warn("rbd-nbd log file", zap.String("file", a.LogFile), zap.Error(err))
	}
	return nil
}

// Resize implements Attacher: krbd and rbd-nbd follow the image's size on
// their own.
func (m *rbdMap) Resize(context.Context, *Attachment, int64) error { return nil }

// Check implements Attacher: the device must exist and, for rbd-nbd, a
// process must serve it.
func (m *rbdMap) Check(ctx context.Context, a *Attachment) error {
	if _, err := m.sys.Stat(a.Device); err != nil {
		return fmt.Errorf("device %s is not usable: %w", a.Device, err)
	}
	if alive, err := m.Alive(ctx, a); err == nil && !alive {
		return fmt.Errorf("no rbd-nbd process serves %s", a.Device)
	}
	return nil
}

// Alive implements Reattacher: krbd devices need no process; an rbd-nbd
// device is served when `rbd-nbd list-mapped` lists it.
func (m *rbdMap) Alive(ctx context.Context, a *Attachment) (bool, error) {
	if m.kind != kindNBD {
		return true, nil
	}
	devs, err := Finder{Executor: m.exec, System: m.sys}.list(ctx, []string{"rbd-nbd", "list-mapped", "--format", "json"})
	if err != nil {
		return false, err
	}
	for _, d := range devs {
		if d.Device == a.Device {
			return true, nil
		}
	}
	return false, nil
}

// Reattach implements Reattacher: `rbd-nbd attach --device DEV` with the
// options of the map, as ceph-csi's volume healer runs it.
func (m *rbdMap) Reattach(ctx context.Context, r *Request, a *Attachment) error {
	if m.kind != kindNBD {
		return nil
	}
	err := withKeyring(r.Creds, func(keyring string) error {
		args := append(append(authArgs(r, keyring), logArgs(r)...), "attach", r.Spec(), "--device", a.Device)
		args = append(args, nbdOptions(SelectOptions(r.MapOptions, kindNBD), r.VolumeID)...)
		if r.ReadOnly {
			args = append(args, "--read-only")
		}
		_, err := run(ctx, m.exec, r.NetNamespace, "rbd-nbd", args)
		return err
	})
	if err != nil {
		return fmt.Errorf("re-attaching %s to %s: %w", r.Spec(), a.Device, err)
	}
	logging.FromContext(ctx).Info("re-attached rbd-nbd device", zap.String("image", r.Spec()), zap.String("device", a.Device))
	return nil
}
