package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/cephrbd"
	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/controller"
	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/driver"
	"github.com/seed-6a310834/ceph-csi/shared/cliflags"
	"github.com/seed-6a310834/ceph-csi/shared/drivermain"
	"github.com/seed-6a310834/ceph-csi/shared/nodelabels"
)

// DefaultStateDir holds the node's stage records and rbd-fuse mountpoints.
const DefaultStateDir = "/var/lib/rbd-driver"

// rbdOptions are the RBD driver's own flags.
type rbdOptions struct {
	cloneSoftDepth    int
	cloneHardDepth    int
	setMetadata       bool
	maxVolumesPerNode int64
	topology          string
	stateDir          string
	secretsDir        string
	memoryLimit       string
	mgrTimeout        time.Duration
	nodeLabels        string
	crushLabels       string
	nodeSecretsDir    string
	domainLabels      string
}

// registerFlags registers the RBD driver's own flags.
func registerFlags(fs *flag.FlagSet) drivermain.Flags { return registerRBDFlags(fs) }

func registerRBDFlags(fs *flag.FlagSet) *rbdOptions {
	o := &rbdOptions{}
	fs.IntVar(&o.cloneSoftDepth, "clone-soft-depth", controller.DefaultCloneSoftDepth,
		"clone chain depth from which new clones are flattened in the background")
	fs.IntVar(&o.cloneHardDepth, "clone-hard-depth", controller.DefaultCloneHardDepth,
		"clone chain depth never exceeded (deeper requests wait for a flatten: Aborted)")
	fs.BoolVar(&o.setMetadata, "set-metadata", false, "record the PVC and PV names as image metadata")
	fs.Int64Var(&o.maxVolumesPerNode, "max-volumes-per-node", 0, "volumes a node may attach; 0 means no limit")
	fs.StringVar(&o.topology, "topology", "", "the node's topology segments: key=value[,key=value...]")
	fs.StringVar(&o.stateDir, "state-dir", DefaultStateDir, "node state directory (stage records, rbd-fuse mountpoints)")
	fs.StringVar(&o.secretsDir, "controller-secrets-dir", "",
		"directory with files userID and userKey: the credentials of RPCs that carry none (GetCapacity, ListSnapshots); empty disables GetCapacity")
	fs.StringVar(&o.memoryLimit, "memory-limit", "",
		"soft Go memory limit, e.g. 48MiB (runtime/debug.SetMemoryLimit); empty keeps GOMEMLIMIT")
	fs.DurationVar(&o.mgrTimeout, "mgr-timeout", cephrbd.DefaultMgrTimeout, "bound on a Ceph mgr command (background task queueing)")
	fs.StringVar(&o.nodeLabels, "node-labels", "", nodelabels.NodeLabelsHelp)
	fs.StringVar(&o.crushLabels, "crush-location-labels", "", nodelabels.CrushLocationLabelsHelp)
	fs.StringVar(&o.domainLabels, "domainlabels", "",
		"node labels (comma-separated, e.g. topology.kubernetes.io/zone) whose values become the node's topology "+
			"segments topology.<driver-name>/<name>, read from the Kubernetes API at start (RBAC: get nodes)")
	fs.StringVar(&o.nodeSecretsDir, "node-secrets-dir", "",
		"directory with files userID and userKey used to re-attach rbd-nbd devices at start; empty disables that")
	return o
}

// Validate checks the parsed values for the mode.
func (o *rbdOptions) Validate(mode cliflags.Mode) error {
	var errs []error
	if o.cloneSoftDepth < 1 || o.cloneHardDepth < o.cloneSoftDepth {
		errs = append(errs, fmt.Errorf("--clone-soft-depth %d / --clone-hard-depth %d: want 1 <= soft <= hard",
			o.cloneSoftDepth, o.cloneHardDepth))
	}
	if o.maxVolumesPerNode < 0 {
		errs = append(errs, errors.New("--max-volumes-per-node must not be negative"))
	}
	if _, err := parseTopology(o.topology); err != nil {
		errs = append(errs, fmt.Errorf("--topology: %w", err))
	}
	if _, err := parseTopology(o.nodeLabels); err != nil {
		errs = append(errs, fmt.Errorf("--node-labels: %w", err))
	}
	if _, err := parseBytes(o.memoryLimit); err != nil {
		errs = append(errs, fmt.Errorf("--memory-limit: %w", err))
	}
	if mode.ServesNode() && o.stateDir == "" {
		errs = append(errs, errors.New("--state-dir: must not be empty in node mode"))
	}
	return errors.Join(errs...)
}

// parseTopology parses key=value[,key=value...].
func parseTopology(s string) (map[string]string, error) {
	out := map[string]string{}
	if s == "" {
		return out, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("%q is not key=value", kv)
		}
		out[k] = v
	}
	return out, nil
}

// parseBytes parses a size like 64MiB, 1GiB, 500KiB or a plain byte count;
// "" is 0.
func parseBytes(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	mult := int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			s, mult = n, m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a positive size (e.g. 64MiB)", s)
	}
	return n * mult, nil
}

func (o *rbdOptions) applyMemoryLimit(logger *zap.Logger) {
	if n, _ := parseBytes(o.memoryLimit); n > 0 {
		debug.SetMemoryLimit(n)
		logger.Info("memory limit set", zap.Int64("bytes", n))
	}
}

// Serve runs the driver until ctx ends.
func (o *rbdOptions) Serve(ctx context.Context, opts *cliflags.Options, version string, logger *zap.Logger) error {
	o.applyMemoryLimit(logger)
	topology, _ := parseTopology(o.topology)
	labels, _ := parseTopology(o.nodeLabels)
	return driver.Run(ctx, driver.Config{
		Shared: opts,
		RBD: driver.RBDOptions{
			CloneSoftDepth: o.cloneSoftDepth, CloneHardDepth: o.cloneHardDepth,
			SetMetadata: o.setMetadata, MaxVolumesPerNode: o.maxVolumesPerNode,
			Topology: topology, StateDir: o.stateDir, SecretsDir: o.secretsDir,
			MgrTimeout: o.mgrTimeout, NodeLabels: labels, CrushLocationLabels: splitList(o.crushLabels),
			NodeSecretsDir: o.nodeSecretsDir, DomainLabels: splitList(o.domainLabels),
		},
		Version: version,
		Logger:  logger,
	})
}

// splitList splits a comma-separated list, dropping empty entries.
func splitList(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}
