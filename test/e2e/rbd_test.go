package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// rbd is the RBD driver's specific part: images in the test's pool, the
// journal in the pool's default namespace.
type rbd struct {
	cfg  *config
	ceph ceph
}

func (r *rbd) setup(ctx context.Context, k *kube) error {
	user, key, err := readUser(r.cfg.secretDirs["rbd"], "userID", "userKey")
	if err != nil {
		return err
	}
	if err := k.applySecret(ctx, "ceph-csi-rbd", "csi-rbd-secret",
		map[string]string{"userID": user, "userKey": key}); err != nil {
		return err
	}
	set := map[string]string{"clusterID": r.cfg.clusterID, "pool": r.cfg.rbdPool}
	bad := map[string]string{"clusterID": r.cfg.clusterID, "pool": r.cfg.rbdPool,
		"imageFeatures": "layering,no-such-feature"}
	// The pods' classes: rbd-fuse + a loop device (no krbd or nbd here).
	fuse := map[string]string{"clusterID": r.cfg.clusterID, "pool": r.cfg.rbdPool, "mounter": "fuse",
		"csi.storage.k8s.io/fstype": "xfs"}
	for _, c := range []struct {
		sample, name string
		params       map[string]string
	}{{"ceph-rbd", "e2e-rbd", set}, {"ceph-rbd-block", "e2e-rbd-block", set}, {"ceph-rbd", "e2e-rbd-bad", bad},
		{"ceph-rbd", "e2e-rbd-pods", fuse}, {"ceph-rbd-block", "e2e-rbd-pods-block", fuse}} {
		if err := k.copyStorageClass(ctx, c.sample, c.name, c.params); err != nil {
			return err
		}
	}
	if err := k.copyGroupSnapshotClass(ctx, "ceph-rbd-group", "e2e-rbd-group",
		map[string]string{"clusterID": r.cfg.clusterID, "pool": r.cfg.rbdPool}); err != nil {
		return err
	}
	return k.copySnapshotClass(ctx, "ceph-rbd", "e2e-rbd", map[string]string{"clusterID": r.cfg.clusterID})
}

func (r *rbd) claims() []claim {
	return []claim{
		{name: "rbd-fs", class: "e2e-rbd", mode: corev1.PersistentVolumeFilesystem,
			access: corev1.ReadWriteOnce, size: "1Gi"},
		{name: "rbd-block", class: "e2e-rbd-block", mode: corev1.PersistentVolumeBlock,
			access: corev1.ReadWriteOnce, size: "1Gi"},
	}
}

func (r *rbd) badParameter() string { return "imageFeatures" }

func (r *rbd) expandsOnNode() bool { return true }

func (r *rbd) volumeOf(pv *corev1.PersistentVolume) (string, error) {
	attrs := pv.Spec.CSI.VolumeAttributes
	if attrs["pool"] != r.cfg.rbdPool {
		return "", fmt.Errorf("PV %s: pool attribute %q is not %s", pv.Name, attrs["pool"], r.cfg.rbdPool)
	}
	if attrs["imageName"] == "" {
		return "", fmt.Errorf("PV %s has no imageName attribute", pv.Name)
	}
	return attrs["imageName"], nil
}

// rbdInfo is what the scenarios read of `rbd info`.
type rbdInfo struct {
	ID       string   `json:"id"`
	Size     int64    `json:"size"`
	Features []string `json:"features"`
	Parent   *struct {
		Image string `json:"image"`
	} `json:"parent"`
	SnapshotCount int `json:"snapshot_count"`
}

func (r *rbd) info(ctx context.Context, image string) (rbdInfo, error) {
	var i rbdInfo
	err := r.ceph.json(ctx, &i, "rbd", "info", r.cfg.rbdPool+"/"+image, "--format", "json")
	return i, err
}

func (r *rbd) checkVolume(ctx context.Context, name string, size int64) error {
	i, err := r.info(ctx, name)
	if err != nil {
		return fmt.Errorf("image %s/%s: %w", r.cfg.rbdPool, name, err)
	}
	if i.Size != size {
		return fmt.Errorf("image %s/%s: size %d, want %d", r.cfg.rbdPool, name, i.Size, size)
	}
	return nil
}

func (r *rbd) checkFeatures(ctx context.Context, name string) error {
	i, err := r.info(ctx, name)
	if err != nil {
		return err
	}
	if !slices.Contains(i.Features, "layering") {
		return fmt.Errorf("image %s lacks the layering feature (StorageClass imageFeatures): %v", name, i.Features)
	}
	return nil
}

func (r *rbd) volumes(ctx context.Context) ([]string, error) {
	var l []string
	err := r.ceph.json(ctx, &l, "rbd", "ls", "-p", r.cfg.rbdPool, "--format", "json")
	slices.Sort(l)
	return l, err
}

func (r *rbd) checkSnapshots(ctx context.Context, volume string) (string, error) {
	var snaps []json.RawMessage
	if err := r.ceph.json(ctx, &snaps, "rbd", "snap", "ls", "--all", r.cfg.rbdPool+"/"+volume,
		"--format", "json"); err != nil {
		return "", err
	}
	if len(snaps) < 1 {
		return "", fmt.Errorf("image %s has no RBD snapshot", volume)
	}
	return fmt.Sprintf("%d RBD snapshot(s) on %s", len(snaps), volume), nil
}

func (r *rbd) journalKeys(ctx context.Context, object string) ([]string, error) {
	return r.ceph.omapKeys(ctx, r.cfg.rbdPool, "", object)
}

// trashEntry is one `rbd trash ls` entry.
type trashEntry struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

func (r *rbd) trash(ctx context.Context) ([]trashEntry, error) {
	var l []trashEntry
	err := r.ceph.json(ctx, &l, "rbd", "trash", "ls", "-p", r.cfg.rbdPool, "--format", "json")
	return l, err
}

// readUser reads a Ceph user's ID and key from a secret directory.
func readUser(dir, idFile, keyFile string) (string, string, error) {
	if dir == "" {
		return "", "", errors.New("no secret directory for the driver's Ceph user (run.sh sets E2E_*_SECRET_DIR)")
	}
	id, err := os.ReadFile(filepath.Join(dir, idFile))
	if err != nil {
		return "", "", err
	}
	key, err := os.ReadFile(filepath.Join(dir, keyFile))
	if err != nil {
		return "", "", err
	}
	return strings.TrimSpace(string(id)), strings.TrimSpace(string(key)), nil
}

// The Ceph side of "delete everything" for RBD.
func (r *rbd) checkClean(t *testing.T) {
	ctx := t.Context()
	if ok, _ := poll(60*time.Second, func() (bool, error) {
		l, err := r.volumes(ctx)
		return len(l) == 0, err
	}); !ok {
		r.describeLeft(t)
	}
	r.drainTrash(t)
	expectNone(t, "images", r.volumes)
	expectNone(t, "csi.volumes.default keys", r.keysOf("csi.volumes.default"))
	expectNone(t, "csi.snaps.default keys", r.keysOf("csi.snaps.default"))
	// No object of any image (header, id, data, object map) and no journal
	// UUID object may remain; what is left is the pool's and the journal's
	// directories.
	all, err := r.ceph.objects(ctx, r.cfg.rbdPool, "*")
	if err != nil {
		t.Fatal(err)
	}
	expectNone(t, "objects in "+r.cfg.rbdPool, func(context.Context) ([]string, error) {
		return withPrefix(all, "rbd_header.", "rbd_id.", "rbd_data.", "rbd_object_map.", "csi.volume.", "csi.snap."), nil
	})
	t.Logf("ok: pool %s back to empty: no images, empty trash, no journal keys, no image or journal objects (%s)",
		r.cfg.rbdPool, strings.Join(all, " "))
}

func (r *rbd) keysOf(object string) func(context.Context) ([]string, error) {
	return func(ctx context.Context) ([]string, error) { return r.journalKeys(ctx, object) }
}

// describeLeft fails the test with what it knows of the images left.
func (r *rbd) describeLeft(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	left, err := r.volumes(ctx)
	for _, img := range left {
		i, ierr := r.info(ctx, img)
		snaps, _ := r.ceph.run(ctx, "rbd", "snap", "ls", "--all", r.cfg.rbdPool+"/"+img, "--format", "json")
		children, _ := r.ceph.run(ctx, "rbd", "children", "--all", r.cfg.rbdPool+"/"+img)
		t.Logf("left: %s: %+v (%v), snapshots: %s, children: %s", img, i, ierr, snaps, children)
	}
	trash, _ := r.ceph.run(ctx, "rbd", "trash", "ls", "-p", r.cfg.rbdPool, "--long")
	t.Logf("trash: %s", trash)
	t.Fatalf("images left in %s after 60s: %v (%v)", r.cfg.rbdPool, left, err)
}

// drainTrash: deleted images go through the RBD trash; the driver has the
// mgr remove them (`ceph rbd task add trash remove`). The mgr runs its tasks
// one at a time for the whole cluster, so it gets a minute; then every image
// still in the trash must have a pending mgr task (else the driver leaked
// it), and the test drains the trash itself: an entry that cannot be purged
// (snapshots, clones) is a leak too.
func (r *rbd) drainTrash(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	var left []trashEntry
	_, _ = poll(60*time.Second, func() (bool, error) {
		var err error
		left, err = r.trash(ctx)
		return len(left) == 0, err
	})
	if len(left) == 0 {
		t.Log("ok: trash drained by the driver's mgr tasks")
		return
	}
	var tasks []rbdTask
	if err := r.ceph.json(ctx, &tasks, "ceph", "rbd", "task", "list", "--format", "json"); err != nil {
		tasks = nil
	}
	for _, e := range left {
		if !slices.ContainsFunc(tasks, func(k rbdTask) bool { return k.removes(r.cfg.rbdPool, e.ID) }) {
			t.Fatalf("trashed image %s (%s) has no pending mgr 'trash remove' task: leaked", e.ID, e.Name)
		}
	}
	t.Logf("%d trashed image(s) still queued for the mgr after 60s (its task queue is cluster-wide); purging", len(left))
	if _, err := r.ceph.run(ctx, "rbd", "trash", "purge", "-p", r.cfg.rbdPool); err != nil {
		t.Fatalf("rbd trash purge failed: %v", err)
	}
	if l, err := r.trash(ctx); err != nil || len(l) > 0 {
		t.Fatalf("trash not empty after purge: %v (%v)", l, err)
	}
}

// rbdTask is one `ceph rbd task list` entry.
type rbdTask struct {
	Refs struct {
		Action   string `json:"action"`
		ImageID  string `json:"image_id"`
		PoolName string `json:"pool_name"`
	} `json:"refs"`
}

func (k rbdTask) removes(pool, imageID string) bool {
	return k.Refs.Action == "trash remove" && k.Refs.ImageID == imageID && k.Refs.PoolName == pool
}
