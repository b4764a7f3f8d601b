package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// specific is what differs between the drivers; a scenario is written once
// against it and runs for both.
type specific interface {
	// setup fills the driver's Secret template with the test's Ceph user
	// and copies the sample classes of manifests/<driver> under e2e-*
	// names (only clusterID and the pool or fsName changed): StorageClass
	// e2e-<driver> (and e2e-rbd-block), e2e-<driver>-bad with the bad
	// parameter, VolumeSnapshotClass e2e-<driver>.
	setup(ctx context.Context, k *kube) error
	// claims are the PVCs that provision creates; the first is the source
	// of snapshot, clone and expand.
	claims() []claim
	// badParameter is the StorageClass parameter that e2e-<driver>-bad
	// sets to a wrong value; the ProvisioningFailed event must name it.
	badParameter() string
	// expandsOnNode tells whether a filesystem volume finishes growing on
	// the node (NodeExpandVolume), so that the PVC waits for a kubelet.
	expandsOnNode() bool
	// volumeOf checks the PV's volume attributes and returns the name of
	// the image or subvolume behind it.
	volumeOf(pv *corev1.PersistentVolume) (string, error)
	// checkVolume asserts that the image or subvolume exists in the test's
	// pool or group with size bytes (image size, subvolume quota).
	checkVolume(ctx context.Context, name string, size int64) error
	// checkFeatures asserts what the StorageClass asked for beyond the
	// size (RBD: the layering feature).
	checkFeatures(ctx context.Context, name string) error
	// volumes lists the images or subvolumes in the test's pool or group.
	volumes(ctx context.Context) ([]string, error)
	// checkSnapshots asserts that the volume carries the Ceph snapshot of
	// the VolumeSnapshot; it returns a description for the log.
	checkSnapshots(ctx context.Context, volume string) (string, error)
	// journalKeys lists the omap keys of a journal directory object
	// (csi.volumes.default, csi.snaps.default); none if it is absent.
	journalKeys(ctx context.Context, object string) ([]string, error)
	// checkClean asserts, once every Kubernetes object is gone, that the
	// test's pool or group is back to empty: no volumes, no snapshots, no
	// journal keys or objects.
	checkClean(t *testing.T)
}

// driver is one driver under test: what is the same for both, the driver's
// specific part, and the names the scenarios pass on to each other.
type driver struct {
	specific
	// drv is "rbd" or "cephfs"; csi is the CSI driver name.
	drv, csi string
	// ns is the namespace of the test's PVCs and VolumeSnapshots.
	ns   string
	kube *kube
	cfg  *config

	mu sync.Mutex
	// vols maps a PVC name to the PV and the image or subvolume behind it.
	vols map[string]volRef
	// restarts counts the restarts of the controller's containers that a
	// scenario caused on purpose (liveness-restart).
	restarts map[string]int32
}

// volRef is what a bound PVC is on both sides.
type volRef struct{ pv, volume string }

func newDriver(name string, cfg *config, k *kube) (*driver, error) {
	d := &driver{drv: name, ns: "e2e-" + name, kube: k, cfg: cfg, vols: map[string]volRef{},
		restarts: map[string]int32{}}
	switch name {
	case "rbd":
		d.csi, d.specific = "rbd.csi.ceph.com", &rbd{cfg: cfg, ceph: newCeph()}
	case "cephfs":
		d.csi, d.specific = "cephfs.csi.ceph.com", &cephfs{cfg: cfg, ceph: newCeph()}
	default:
		return nil, fmt.Errorf("unknown driver %q (E2E_DRIVERS: rbd, cephfs)", name)
	}
	return d, nil
}

func (d *driver) name() string { return d.drv }

// setup creates the test namespace (with the ServiceAccount "default" its
// pods run as: no serviceaccount controller runs) and the driver's Secret
// and classes.
func (d *driver) setup(ctx context.Context) error {
	if err := d.kube.createNamespace(ctx, d.ns); err != nil {
		return err
	}
	if err := d.kube.createServiceAccount(ctx, d.ns, "default"); err != nil {
		return err
	}
	return d.specific.setup(ctx, d.kube)
}

func (d *driver) remember(pvc string, r volRef) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.vols[pvc] = r
}

// expectRestarts records that scenarios restarted the controller's
// container n times on purpose.
func (d *driver) expectRestarts(container string, n int32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.restarts[container] = n
}

// expectedRestarts is how often scenarios restarted the container.
func (d *driver) expectedRestarts(container string) int32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.restarts[container]
}

// volumeNames are the images or subvolumes of every PVC the scenarios
// recorded.
func (d *driver) volumeNames() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, r := range d.vols {
		out = append(out, r.volume)
	}
	return out
}

// recall returns what provision recorded for pvc.
func (d *driver) recall(t *testing.T, pvc string) volRef {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	r, ok := d.vols[pvc]
	if !ok {
		t.Fatalf("no volume recorded for PVC %s", pvc)
	}
	return r
}

// source is the first claim of provision: the source of snapshot, clone
// and expand.
func (d *driver) source() claim { return d.claims()[0] }

// class is the driver's e2e StorageClass (or snapshot class) name, with a
// suffix ("", "-block", "-bad").
func (d *driver) class(suffix string) string { return "e2e-" + d.drv + suffix }
