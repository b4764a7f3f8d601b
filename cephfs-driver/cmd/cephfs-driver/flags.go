package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"go.uber.org/zap"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/controller"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/driver"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/host"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/volctx"
	"github.com/seed-6a310834/ceph-csi/shared/cliflags"
	"github.com/seed-6a310834/ceph-csi/shared/drivermain"
	"github.com/seed-6a310834/ceph-csi/shared/nodelabels"
)

// driverFlags are the CephFS driver's own flags.
type driverFlags struct{ driver.CephFSOptions }

// registerDriverFlags registers the CephFS driver's own flags.
func registerDriverFlags(fs *flag.FlagSet) drivermain.Flags {
	o := &driverFlags{}
	fs.StringVar(&o.NodeStateDir, "node-state-dir", "",
		"directory of the node's stage records (default /var/lib/kubelet/plugins/<driver-name>/node-state)")
	fs.StringVar(&o.DefaultMounter, "default-mounter", volctx.MounterKernel,
		`mounter for volumes whose context names none: "kernel" or "fuse"`)
	fs.StringVar(&o.FuseBinary, "fuse-binary", host.DefaultFuseBinary, "ceph-fuse program")
	fs.DurationVar(&o.CloneWait, "clone-wait", controller.DefaultCloneWait,
		"longest a CreateVolume waits for a clone before answering Aborted (a retry resumes the clone)")
	fs.StringVar(&o.CapacitySecretDir, "capacity-secret-dir", "",
		"directory with adminID and adminKey files (a mounted Secret) for GetCapacity; empty disables GetCapacity")
	fs.StringVar(&o.NodeSecretsDir, "node-secrets-dir", "",
		"directory with the node-stage Secret's files (adminID/adminKey, userID/userKey) with which the node mounts a staged volume "+
			"again when its ceph-fuse died with the previous plugin container and NodePublishVolume carries no secrets; empty: such a publish fails")
	fs.Func("node-labels", nodelabels.NodeLabelsHelp, func(s string) error {
		m, err := cliflags.ParseKeyValues(s)
		o.NodeLabels = m
		return err
	})
	fs.Func("crush-location-labels", nodelabels.CrushLocationLabelsHelp,
		func(s string) error {
			o.CrushLocationLabels = cliflags.SplitList(s)
			return nil
		})
	return o
}

// Validate checks the values registerDriverFlags parsed.
func (o *driverFlags) Validate(cliflags.Mode) error {
	var errs []error
	if o.DefaultMounter != volctx.MounterKernel && o.DefaultMounter != volctx.MounterFuse {
		errs = append(errs, fmt.Errorf("--default-mounter: %q is not %q or %q", o.DefaultMounter, volctx.MounterKernel, volctx.MounterFuse))
	}
	if o.CloneWait <= 0 {
		errs = append(errs, fmt.Errorf("--clone-wait: %v must be positive", o.CloneWait))
	}
	return errors.Join(errs...)
}

// Serve runs the driver until ctx ends.
func (o *driverFlags) Serve(ctx context.Context, opts *cliflags.Options, version string, logger *zap.Logger) error {
	return driver.Run(ctx, driver.Config{Shared: opts, CephFS: o.CephFSOptions, Version: version, Logger: logger})
}
