package main

import (
	"errors"
	"flag"
	"fmt"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/controller"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/driver"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/host"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/volctx"
)

// registerDriverFlags registers the CephFS driver's own flags.
func registerDriverFlags(fs *flag.FlagSet) *driver.CephFSOptions {
	o := &driver.CephFSOptions{}
	fs.StringVar(&o.NodeStateDir, "node-state-dir", "",
		"directory of the node's stage records (default /var/lib/kubelet/plugins/<driver-name>/node-state)")
	fs.StringVar(&o.DefaultMounter, "default-mounter", volctx.MounterKernel,
		`mounter for volumes whose context names none: "kernel" or "fuse"`)
	fs.StringVar(&o.FuseBinary, "fuse-binary", host.DefaultFuseBinary, "ceph-fuse program")
	fs.DurationVar(&o.CloneWait, "clone-wait", controller.DefaultCloneWait,
		"longest a CreateVolume waits for a clone before answering Aborted (a retry resumes the clone)")
	fs.StringVar(&o.CapacitySecretDir, "capacity-secret-dir", "",
		"directory with adminID and adminKey files (a mounted Secret) for GetCapacity; empty disables GetCapacity")
	return o
}

// validateDriverFlags checks the values registerDriverFlags parsed.
func validateDriverFlags(o *driver.CephFSOptions) error {
	var errs []error
	if o.DefaultMounter != volctx.MounterKernel && o.DefaultMounter != volctx.MounterFuse {
		errs = append(errs, fmt.Errorf("--default-mounter: %q is not %q or %q", o.DefaultMounter, volctx.MounterKernel, volctx.MounterFuse))
	}
	if o.CloneWait <= 0 {
		errs = append(errs, fmt.Errorf("--clone-wait: %v must be positive", o.CloneWait))
	}
	return errors.Join(errs...)
}
