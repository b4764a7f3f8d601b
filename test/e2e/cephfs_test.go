package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// cephfs is the CephFS driver's specific part: subvolumes in the test's
// subvolume group, the journal in the metadata pool under the RADOS
// namespace named after the group.
type cephfs struct {
	cfg  *config
	ceph ceph
}

func (f *cephfs) setup(ctx context.Context, k *kube) error {
	user, key, err := readUser(f.cfg.secretDirs["cephfs"], "adminID", "adminKey")
	if err != nil {
		return err
	}
	nodeUser, nodeKey, err := readUser(f.cfg.secretDirs["cephfs"], "userID", "userKey")
	if err != nil {
		return err
	}
	if err := k.applySecret(ctx, "ceph-csi-cephfs", "csi-cephfs-secret", map[string]string{
		"adminID": user, "adminKey": key, "userID": nodeUser, "userKey": nodeKey,
	}); err != nil {
		return err
	}
	set := map[string]string{"clusterID": f.cfg.clusterID, "fsName": f.cfg.fsName}
	if err := k.copyStorageClass(ctx, "ceph-cephfs", "e2e-cephfs", set); err != nil {
		return err
	}
	bad := map[string]string{"clusterID": f.cfg.clusterID, "fsName": f.cfg.fsName, "mounter": "no-such-mounter"}
	if err := k.copyStorageClass(ctx, "ceph-cephfs", "e2e-cephfs-bad", bad); err != nil {
		return err
	}
	// The pods' class: ceph-fuse (no kernel CephFS client here).
	fuse := map[string]string{"clusterID": f.cfg.clusterID, "fsName": f.cfg.fsName, "mounter": "fuse"}
	if err := k.copyStorageClass(ctx, "ceph-cephfs", "e2e-cephfs-pods", fuse); err != nil {
		return err
	}
	if err := k.copyGroupSnapshotClass(ctx, "ceph-cephfs-group", "e2e-cephfs-group",
		map[string]string{"clusterID": f.cfg.clusterID, "fsName": f.cfg.fsName}); err != nil {
		return err
	}
	return k.copySnapshotClass(ctx, "ceph-cephfs", "e2e-cephfs", map[string]string{"clusterID": f.cfg.clusterID})
}

func (f *cephfs) claims() []claim {
	return []claim{{name: "fs-pvc", class: "e2e-cephfs", mode: corev1.PersistentVolumeFilesystem,
		access: corev1.ReadWriteMany, size: "1Gi"}}
}

func (f *cephfs) badParameter() string { return "mounter" }

// CephFS needs no node expansion: the PVC reaches the new size at once.
func (f *cephfs) expandsOnNode() bool { return false }

func (f *cephfs) volumeOf(pv *corev1.PersistentVolume) (string, error) {
	attrs := pv.Spec.CSI.VolumeAttributes
	if attrs["fsName"] != f.cfg.fsName {
		return "", fmt.Errorf("PV %s: fsName attribute %q is not %s", pv.Name, attrs["fsName"], f.cfg.fsName)
	}
	if attrs["subvolumeName"] == "" {
		return "", fmt.Errorf("PV %s has no subvolumeName attribute", pv.Name)
	}
	return attrs["subvolumeName"], nil
}

func (f *cephfs) checkVolume(ctx context.Context, name string, size int64) error {
	var info struct {
		BytesQuota json.Number `json:"bytes_quota"`
	}
	if err := f.ceph.json(ctx, &info, "ceph", "fs", "subvolume", "info", f.cfg.fsName, name,
		"--group_name", f.cfg.fsGroup, "-f", "json"); err != nil {
		return fmt.Errorf("subvolume %s/%s: %w", f.cfg.fsGroup, name, err)
	}
	if info.BytesQuota.String() != fmt.Sprint(size) {
		return fmt.Errorf("subvolume %s/%s: quota %s, want %d", f.cfg.fsGroup, name, info.BytesQuota, size)
	}
	return nil
}

func (f *cephfs) checkFeatures(context.Context, string) error { return nil }

// named is a `ceph fs ... ls` entry.
type named struct {
	Name string `json:"name"`
}

func (f *cephfs) volumes(ctx context.Context) ([]string, error) {
	var l []named
	err := f.ceph.json(ctx, &l, "ceph", "fs", "subvolume", "ls", f.cfg.fsName, "--group_name", f.cfg.fsGroup,
		"-f", "json")
	var names []string
	for _, n := range l {
		names = append(names, n.Name)
	}
	slices.Sort(names)
	return names, err
}

func (f *cephfs) checkSnapshots(ctx context.Context, volume string) (string, error) {
	var l []named
	if err := f.ceph.json(ctx, &l, "ceph", "fs", "subvolume", "snapshot", "ls", f.cfg.fsName, volume,
		"--group_name", f.cfg.fsGroup, "-f", "json"); err != nil {
		return "", err
	}
	if len(l) != 1 {
		return "", fmt.Errorf("subvolume %s has %d snapshots, want 1", volume, len(l))
	}
	return fmt.Sprintf("subvolume snapshot %s on %s", l[0].Name, volume), nil
}

func (f *cephfs) journalKeys(ctx context.Context, object string) ([]string, error) {
	return f.ceph.omapKeys(ctx, f.cfg.fsMetaPool, f.cfg.fsGroup, object)
}

// The Ceph side of "delete everything" for CephFS.
func (f *cephfs) checkClean(t *testing.T) {
	ctx := t.Context()
	waitFor(t, 120*time.Second, "no subvolumes in "+f.cfg.fsGroup, func() (bool, error) {
		l, err := f.volumes(ctx)
		return len(l) == 0, err
	})
	for _, o := range []string{"csi.volumes.default", "csi.snaps.default"} {
		expectNone(t, o+" keys", func(ctx context.Context) ([]string, error) { return f.journalKeys(ctx, o) })
	}
	objs, err := f.ceph.objects(ctx, f.cfg.fsMetaPool, f.cfg.fsGroup)
	if err != nil {
		t.Fatal(err)
	}
	if left := withPrefix(objs, "csi.volume.", "csi.snap."); len(left) > 0 {
		t.Fatalf("journal objects left in %s/%s: %s", f.cfg.fsMetaPool, f.cfg.fsGroup, strings.Join(left, " "))
	}
	t.Logf("ok: group %s back to empty: no subvolumes, no journal keys or UUID objects (%s)",
		f.cfg.fsGroup, strings.Join(objs, " "))
}
