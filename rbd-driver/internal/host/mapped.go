package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/seed-6a310834/ceph-csi/shared/execx"
	"github.com/seed-6a310834/ceph-csi/shared/logging"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/volctx"
)

// Mapping is an attachment of an image found on this host, whoever made
// it: this plugin, an earlier run of it, another plugin (ceph-csi) or an
// operator.
type Mapping struct {
	// Mounter is volctx.MounterKRBD, MounterNBD or MounterFuse.
	Mounter string
	// Device is the block device (krbd, rbd-nbd), or the rbd-fuse
	// mountpoint.
	Device string
	// PID is the rbd-nbd or rbd-fuse process, when known.
	PID int
}

// String says what is mapped where, for error messages.
func (m Mapping) String() string {
	s := m.Mounter + " at " + m.Device
	if m.PID > 0 {
		s += " (pid " + strconv.Itoa(m.PID) + ")"
	}
	return s
}

// Finder finds the attachments of an image on this host: krbd devices
// (`rbd device list`), rbd-nbd devices (`rbd-nbd list-mapped`) and rbd-fuse
// helpers (the process table), the same listings ceph-csi uses for the
// first two.
type Finder struct {
	Executor execx.Executor
	// System lists the processes; nil means this host.
	System System
}

// deviceEntry is one entry of `rbd device list --format json` (name) and
// `rbd-nbd list-mapped --format json` (image).
type deviceEntry struct {
	Pool      string `json:"pool"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Image     string `json:"image"`
	Snap      string `json:"snap"`
	Device    string `json:"device"`
	PID       int    `json:"pid"`
}

func (d deviceEntry) is(pool, namespace, image string) bool {
	name := d.Name
	if name == "" {
		name = d.Image
	}
	return d.Pool == pool && d.Namespace == namespace && name == image && (d.Snap == "" || d.Snap == "-")
}

// Find returns the attachments of the image's head (snapshot mappings do
// not count). A listing tool that is not installed lists nothing.
func (f Finder) Find(ctx context.Context, pool, namespace, image string) ([]Mapping, error) {
	var out []Mapping
	listings := []struct {
		mounter string
		cmd     []string
	}{
		{volctx.MounterKRBD, []string{"rbd", "device", "list", "--format", "json"}},
		{volctx.MounterNBD, []string{"rbd-nbd", "list-mapped", "--format", "json"}},
	}
	for _, l := range listings {
		devs, err := f.list(ctx, l.cmd)
		if err != nil {
			return nil, err
		}
		for _, d := range devs {
			if d.is(pool, namespace, image) {
				out = append(out, Mapping{Mounter: l.mounter, Device: d.Device, PID: d.PID})
			}
		}
	}
	fuse, err := f.fuseHelpers(pool, namespace, image)
	return append(out, fuse...), err
}

// list runs a device listing and decodes it.
func (f Finder) list(ctx context.Context, cmd []string) ([]deviceEntry, error) {
	out, err := f.Executor.Run(ctx, cmd[0], cmd[1:]...)
	if errors.Is(err, exec.ErrNotFound) {
		logging.FromContext(ctx).Debug("device listing tool not installed", zap.String("tool", cmd[0]))
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing mapped devices: %w", err)
	}
	if strings.TrimSpace(string(out)) == "" {
		return nil, nil
	}
	var devs []deviceEntry
	if err := json.Unmarshal(out, &devs); err != nil {
		return nil, fmt.Errorf("decoding the output of %s: %w", execx.CommandLine(cmd[0], cmd[1:]), err)
	}
	return devs, nil
}

// fuseHelpers returns the rbd-fuse processes serving the image.
func (f Finder) fuseHelpers(pool, namespace, image string) ([]Mapping, error) {
	sys := f.System
	if sys == nil {
		sys = Host{}
	}
	procs, err := sys.Processes("rbd-fuse")
	if err != nil {
		return nil, fmt.Errorf("listing rbd-fuse processes: %w", err)
	}
	var out []Mapping
	for _, p := range procs {
		a := parseFuseArgs(p.Args)
		if a.pool == pool && a.namespace == namespace && a.image == image {
			out = append(out, Mapping{Mounter: volctx.MounterFuse, Device: a.mountpoint, PID: p.PID})
		}
	}
	return out, nil
}

// fuseCmd is what an rbd-fuse command line says.
type fuseCmd struct{ pool, namespace, image, mountpoint string }

// parseFuseArgs reads the pool, namespace, image and mountpoint of an
// rbd-fuse command line (arguments after the program name). rbd-fuse
// without -r serves every image of the pool: image "" then.
func parseFuseArgs(args []string) fuseCmd {
	c := fuseCmd{pool: "rbd"}
	for i := 0; i < len(args); i++ {
		a := args[i]
		next := func() string {
			if i+1 < len(args) {
				i++
				return args[i]
			}
			return ""
		}
		switch {
		case a == "-p" || a == "--poolname":
			c.pool = next()
		case a == "-r" || a == "--image":
			c.image = next()
		case strings.HasPrefix(a, "--namespace="):
			c.namespace = strings.TrimPrefix(a, "--namespace=")
		case a == "-c" || a == "--id" || a == "--keyring" || a == "-m" || a == "-o":
			next()
		case !strings.HasPrefix(a, "-"):
			c.mountpoint = a
		}
	}
	return c
}
