package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// config is what run.sh hands to the test through the environment.
type config struct {
	// kubeconfig is the admin's kubeconfig (system:masters).
	kubeconfig string
	// work is run.sh's temporary directory: logs/NAME.log and
	// pids/NAME.pid of every process it started.
	work string
	// drivers are the drivers under test, in order ("rbd", "cephfs").
	drivers []string
	// clusterID is the config.json entry of the test.
	clusterID string
	// rbdPool is the test's RBD pool.
	rbdPool string
	// fsName, fsGroup and fsMetaPool are the CephFS volume, the test's
	// subvolume group (also the journal's RADOS namespace) and the
	// volume's metadata pool (where the journal lives).
	fsName, fsGroup, fsMetaPool string
	// secretDirs holds, per driver, a private directory with the driver's
	// Ceph user as its Secret has it (userID/userKey or adminID/adminKey).
	secretDirs map[string]string
	// bindTimeout bounds how long a PVC may take to bind.
	bindTimeout time.Duration
	// node is the name of the test's node (the drivers' --node-id).
	node string
	// kubelet tells whether a kubelet runs on the node (E2E_KUBELET=1):
	// the pod scenarios need it.
	kubelet bool
	// kubeletDir is the kubelet's root directory.
	kubeletDir string
	// podImage is the test's pod image (test/e2e/podimage), present on the
	// node when a kubelet runs there.
	podImage string
	// With a kubelet the drivers run as the manifests' Deployment and
	// DaemonSet: containerd is the node's containerd socket and
	// controllerPorts the host ports the test gave each controller's
	// `--flag=:PORT` arguments, per driver (test/e2e/deploy.sh).
	containerd      string
	controllerPorts map[string]map[string]int
}

var errNoEnv = errors.New("E2E_KUBECONFIG is not set: run through test/e2e/run.sh (make e2e)")

// loadConfig reads the environment that run.sh sets.
func loadConfig() (*config, error) {
	c := &config{
		kubeconfig: os.Getenv("E2E_KUBECONFIG"),
		work:       os.Getenv("E2E_WORK"),
		drivers:    strings.Fields(os.Getenv("E2E_DRIVERS")),
		clusterID:  os.Getenv("E2E_CLUSTER_ID"),
		rbdPool:    os.Getenv("E2E_RBD_POOL"),
		fsName:     os.Getenv("E2E_FS_NAME"),
		fsGroup:    os.Getenv("E2E_FS_GROUP"),
		fsMetaPool: os.Getenv("E2E_FS_META_POOL"),
		secretDirs: map[string]string{
			"rbd":    os.Getenv("E2E_RBD_SECRET_DIR"),
			"cephfs": os.Getenv("E2E_CEPHFS_SECRET_DIR"),
		},
		bindTimeout: 120 * time.Second,
		node:        os.Getenv("E2E_NODE"),
		podImage:    os.Getenv("E2E_POD_IMAGE"),
		kubelet:     os.Getenv("E2E_KUBELET") == "1",
		kubeletDir:  os.Getenv("E2E_KUBELET_DIR"),
		containerd:  os.Getenv("E2E_CONTAINERD"),
	}
	if c.kubeconfig == "" {
		return nil, errNoEnv
	}
	if s := os.Getenv("E2E_CONTROLLER_PORTS"); s != "" {
		if err := json.Unmarshal([]byte(s), &c.controllerPorts); err != nil {
			return nil, fmt.Errorf("E2E_CONTROLLER_PORTS: %w", err)
		}
	}
	if s := os.Getenv("E2E_BIND_TIMEOUT"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("E2E_BIND_TIMEOUT: %q is not a positive number of seconds", s)
		}
		c.bindTimeout = time.Duration(n) * time.Second
	}
	if c.work == "" || c.clusterID == "" || c.node == "" || len(c.drivers) == 0 {
		return nil, errors.New("E2E_WORK, E2E_CLUSTER_ID, E2E_NODE and E2E_DRIVERS must be set (run.sh sets them)")
	}
	return c, nil
}

// results collects the scenarios' outcomes for the summary.
var results = &runner{}

func TestMain(m *testing.M) {
	code := m.Run()
	if results.ran() {
		results.summary(os.Stdout)
	}
	os.Exit(code)
}

// TestE2E runs every scenario family for each driver under test, in order.
// A scenario whose prerequisite did not pass is skipped.
func TestE2E(t *testing.T) {
	cfg, err := loadConfig()
	if errors.Is(err, errNoEnv) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	kc, err := newKube(cfg.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range cfg.drivers {
		d, err := newDriver(name, cfg, kc)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.setup(t.Context()); err != nil {
			t.Fatalf("%s: setup: %v", name, err)
		}
		for _, s := range scenarios() {
			results.run(t, d, s)
		}
	}
}

// filesystemRWO: the driver's usual volume is a ReadWriteOnce filesystem.
func filesystemRWO(d *driver) bool { return d.source().access == corev1.ReadWriteOnce }

// hasBlock: the driver provisions raw block volumes.
func hasBlock(d *driver) bool {
	for _, c := range d.claims() {
		if c.mode == corev1.PersistentVolumeBlock {
			return true
		}
	}
	return false
}

// scenarios lists the scenario families in the order they run; each is
// written once and runs for every driver.
func scenarios() []scenario {
	return []scenario{
		{name: "provision", run: provision},
		{name: "snapshot", run: snapshot, needs: []string{"provision"}},
		{name: "restore", run: restore, needs: []string{"snapshot"}},
		{name: "clone", run: clone, needs: []string{"provision"}},
		{name: "expand", run: expand, needs: []string{"provision"}},
		{name: "bad-parameter", run: badParameter},
		{name: "attach", run: attach},
		{name: "fs-pod-data", run: fsPodData, kubelet: true, applies: filesystemRWO},
		{name: "block-pod-data", run: blockPodData, kubelet: true, applies: hasBlock},
		{name: "rwx-two-pods", run: rwxTwoPods, kubelet: true, applies: readWriteMany},
		{name: "snapshot-restore-pod-data", run: snapshotRestorePodData, kubelet: true},
		{name: "group-snapshot-pod-data", run: groupSnapshotPodData, kubelet: true},
		{name: "expand-online", run: expandOnline, kubelet: true},
		{name: "node-plugin-restart", run: nodePluginRestart, kubelet: true},
		{name: "liveness-restart", run: livenessRestart, kubelet: true},
		{name: "delete-everything", run: deleteEverything},
		{name: "clean", run: clean, kubelet: true},
		{name: "rbac-and-processes", run: rbacAndProcesses},
	}
}
