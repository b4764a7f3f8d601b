package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/seed-6a310834/ceph-csi/shared/execx"
)

// ceph runs the Ceph command line tools (ceph, rbd, rados) as the cluster's
// admin (CEPH_CONF and friends from the cluster's env, which run.sh
// exports).
type ceph struct{ x execx.Executor }

func newCeph() ceph { return ceph{x: execx.OS{}} }

// cephTimeout bounds one command: the mgr's volumes module can be slow
// under load.
const cephTimeout = 90 * time.Second

func (c ceph) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, cephTimeout)
	defer cancel()
	return c.x.Run(ctx, name, args...)
}

// json runs a command with JSON output into v.
func (c ceph) json(ctx context.Context, v any, name string, args ...string) error {
	out, err := c.run(ctx, name, args...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(out, v); err != nil {
		return fmt.Errorf("%s: %w (output %.200q)", execx.CommandLine(name, args), err, out)
	}
	return nil
}

// lines runs a command and returns its non-empty output lines, sorted.
func (c ceph) lines(ctx context.Context, name string, args ...string) ([]string, error) {
	out, err := c.run(ctx, name, args...)
	if err != nil {
		return nil, err
	}
	var l []string
	for _, s := range strings.Split(string(out), "\n") {
		if s = strings.TrimSpace(s); s != "" {
			l = append(l, s)
		}
	}
	slices.Sort(l)
	return l, nil
}

// omapKeys lists an object's omap keys; an object that does not exist has
// none.
func (c ceph) omapKeys(ctx context.Context, pool, ns, object string) ([]string, error) {
	keys, err := c.lines(ctx, "rados", "-p", pool, "-N", ns, "listomapkeys", object)
	var ee *execx.ExitError
	if errors.As(err, &ee) && strings.Contains(ee.Error(), "No such file or directory") {
		return nil, nil
	}
	return keys, err
}

// objects lists the objects of a pool (in one namespace, or all with "*").
func (c ceph) objects(ctx context.Context, pool, ns string) ([]string, error) {
	args := []string{"-p", pool, "ls"}
	if ns == "*" {
		args = append(args, "--all")
	} else {
		args = append(args, "-N", ns)
	}
	lines, err := c.lines(ctx, "rados", args...)
	for i, l := range lines {
		// --all prints "<namespace>\t<object>".
		if f := strings.Fields(l); len(f) > 0 {
			lines[i] = f[len(f)-1]
		}
	}
	return lines, err
}

// withPrefix returns the entries of l that start with one of prefixes.
func withPrefix(l []string, prefixes ...string) []string {
	var out []string
	for _, s := range l {
		for _, p := range prefixes {
			if strings.HasPrefix(s, p) {
				out = append(out, s)
				break
			}
		}
	}
	return out
}
