package host

import (
	"context"
	"fmt"
	"strings"

	"github.com/seed-6a310834/ceph-csi/shared/execx"
	"github.com/seed-6a310834/ceph-csi/shared/logging"
	"go.uber.org/zap"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/volctx"
)

// Device types of `rbd device map -t`, also the prefixes of per-type
// entries in mapOptions/unmapOptions.
const (
	kindKRBD = "krbd"
	kindNBD  = "nbd"
)

// rbdMap attaches with `rbd device map`: the kernel RBD client (krbd) or
// rbd-nbd, which the rbd CLI starts and daemonizes itself.
type rbdMap struct {
	exec execx.Executor
	sys  System
	kind string
}

// mounter returns the volume-context mounter name of the attacher.
func (m *rbdMap) mounter() string {
	if m.kind == kindNBD {
		return volctx.MounterNBD
	}
	return volctx.MounterKRBD
}

// typeArgs returns "-t nbd" for rbd-nbd; krbd is the rbd CLI's default.
func (m *rbdMap) typeArgs() []string {
	if m.kind == kindNBD {
		return []string{"-t", kindNBD}
	}
	return nil
}

// mapArgs returns the arguments of `rbd` for mapping r's image.
func (m *rbdMap) mapArgs(r *Request, keyring string) []string {
	args := append([]string{"device", "map"}, m.typeArgs()...)
	args = append(args, r.Spec(), "--id", r.Creds.ID, "--keyring", keyring, "-m", r.Monitors)
	if r.ReadOnly {
		args = append(args, "--read-only")
	}
	if opts := SelectOptions(r.MapOptions, m.kind); opts != "" {
		args = append(args, "-o", opts)
	}
	return args
}

// Attach implements Attacher.
func (m *rbdMap) Attach(ctx context.Context, r *Request) (*Attachment, error) {
	var out []byte
	err := withKeyring(r.Creds, func(keyring string) error {
		var err error
		out, err = m.exec.Run(ctx, "rbd", m.mapArgs(r, keyring)...)
		return err
	})
	if err != nil {
		if execx.ExitCode(err) == 2 && strings.Contains(err.Error(), "No such file or directory") {
			return nil, fmt.Errorf("%w: %s: %w", ErrImageNotFound, r.Spec(), err)
		}
		return nil, fmt.Errorf("mapping %s: %w", r.Spec(), err)
	}
	dev, err := devicePath(out)
	if err != nil {
		return nil, fmt.Errorf("mapping %s: %w", r.Spec(), err)
	}
	logging.FromContext(ctx).Info("mapped image", zap.String("image", r.Spec()),
		zap.String("mounter", m.mounter()), zap.String("device", dev))
	return &Attachment{Mounter: m.mounter(), Device: dev, UnmapOptions: r.UnmapOptions}, nil
}

// devicePath returns the device `rbd device map` printed: its last
// non-empty line of output.
func devicePath(out []byte) (string, error) {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	dev := strings.TrimSpace(lines[len(lines)-1])
	if !strings.HasPrefix(dev, "/dev/") {
		return "", fmt.Errorf("no device path in the output of rbd device map: %q", string(out))
	}
	return dev, nil
}

// Detach implements Attacher. A device that no longer exists counts as
// unmapped.
func (m *rbdMap) Detach(ctx context.Context, a *Attachment) error {
	if a.Device == "" || !exists(m.sys, a.Device) {
		return nil
	}
	args := append([]string{"device", "unmap"}, m.typeArgs()...)
	args = append(args, a.Device)
	if opts := SelectOptions(a.UnmapOptions, m.kind); opts != "" {
		args = append(args, "-o", opts)
	}
	if _, err := m.exec.Run(ctx, "rbd", args...); err != nil {
		if !exists(m.sys, a.Device) {
			return nil
		}
		return fmt.Errorf("unmapping %s: %w", a.Device, err)
	}
	logging.FromContext(ctx).Info("unmapped device", zap.String("device", a.Device))
	return nil
}

// Resize implements Attacher: krbd and rbd-nbd follow the image's size on
// their own.
func (m *rbdMap) Resize(context.Context, *Attachment, int64) error { return nil }

// Check implements Attacher.
func (m *rbdMap) Check(_ context.Context, a *Attachment) error {
	if _, err := m.sys.Stat(a.Device); err != nil {
		return fmt.Errorf("device %s is not usable: %w", a.Device, err)
	}
	return nil
}
