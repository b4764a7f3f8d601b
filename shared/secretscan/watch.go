package secretscan

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/seed-6a310834/ceph-csi/shared/driverproc"
	"github.com/seed-6a310834/ceph-csi/shared/testcluster"
)

// stepTimeout bounds one step of a watched lifecycle.
const stepTimeout = 2 * time.Minute

// Watch is a driver process that a secrets test runs through a volume
// lifecycle with a key of its own: Step scans the driver's log after every
// call, ScanProcesses every process while a volume is staged, ScanFiles
// the files written since the watch began. Used only by tests.
type Watch struct {
	t     testing.TB
	proc  *driverproc.Proc
	key   string
	since time.Time
	// logged counts the log lines seen, to show the scans read something.
	logged int
}

// NewWatch watches proc for key; ScanFiles reads the files written since
// (the test's start, before the driver and the user were made).
func NewWatch(t testing.TB, proc *driverproc.Proc, key string, since time.Time) *Watch {
	return &Watch{t: t, proc: proc, key: key, since: since}
}

// Step runs one call, fails the test on error (with the driver's log) and
// scans the log.
func Step[R any](w *Watch, name string, call func(ctx context.Context) (R, error)) R {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	resp, err := call(ctx)
	if err != nil {
		w.t.Fatalf("%s: %v\n%s", name, err, w.proc.Log())
	}
	w.ScanLog(name)
	return resp
}

// ScanLog fails the test if the driver's log holds the key, and unless the
// log grew with debug lines since the last scan.
func (w *Watch) ScanLog(after string) {
	w.t.Helper()
	log := w.proc.Log()
	if hits := Lines(log, w.key); len(hits) > 0 {
		w.t.Fatalf("after %s the driver's log holds the key:\n%s", after, strings.Join(hits, "\n"))
	}
	lines := strings.Count(log, "\n")
	if lines <= w.logged || !strings.Contains(log, `"level":"debug"`) {
		w.t.Fatalf("after %s the log did not grow with debug lines (%d lines)", after, lines)
	}
	w.logged = lines
}

// ScanProcesses fails the test if any process shows the key in its
// arguments or environment, and unless a process whose arguments helper
// accepts (the volume's fuse helper, described by what) is among those
// looked at.
func (w *Watch) ScanProcesses(what string, helper func(args []string) bool) {
	w.t.Helper()
	cmdlines := driverproc.Cmdlines()
	if pids := Processes(cmdlines, w.key); len(pids) > 0 {
		for _, pid := range pids {
			w.t.Errorf("process %d shows the key: %q", pid, cmdlines[pid])
		}
		w.t.FailNow()
	}
	for _, args := range cmdlines {
		if helper(args) {
			return
		}
	}
	w.t.Fatalf("no %s: the process scan saw nothing of the driver's", what)
}

// ScanFiles fails the test if a file under roots written since the watch
// began holds the key, and unless at least min files were read.
func (w *Watch) ScanFiles(when string, min int, roots ...string) {
	w.t.Helper()
	r, err := Files(roots, w.since, w.key)
	switch {
	case err != nil:
		w.t.Fatal(err)
	case len(r.Hits) > 0:
		w.t.Fatalf("%s these files hold the key: %v", when, r.Hits)
	case r.Read < min:
		w.t.Fatalf("%s only %d files were read under %v, want at least %d", when, r.Read, roots, min)
	}
	w.t.Logf("%s: none of the %d files written under %v since the test began holds the key", when, r.Read, roots)
}

// NewCephUser creates a Ceph user with caps (entity, capability pairs, as
// `ceph auth get-or-create-key` takes them) and returns its ID and key;
// the user and the log its fuse helpers wrote are removed when the test
// ends. It fails the test unless the key is a key of the user's own.
func NewCephUser(t testing.TB, c *testcluster.Cluster, caps ...string) (string, string) {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	id := "csi-secrets-" + hex.EncodeToString(b)
	key := strings.TrimSpace(ceph(t, c, append([]string{"auth", "get-or-create-key", "client." + id}, caps...)...))
	t.Cleanup(func() {
		ceph(t, c, "auth", "rm", "client."+id)
		_ = os.Remove("/var/log/ceph/ceph-client." + id + ".log") // the fuse helper's, once scanned
	})
	if key == c.AdminKey || !strings.HasPrefix(key, "AQ") {
		t.Fatalf("the test user's key %q is not a key of its own", key)
	}
	return id, key
}

func ceph(t testing.TB, c *testcluster.Cluster, args ...string) string {
	t.Helper()
	out, err := exec.Command("ceph", append([]string{"--conf", c.ConfPath}, args...)...).Output()
	if err != nil {
		t.Fatalf("ceph %s: %v", strings.Join(args[:2], " "), err)
	}
	return string(out)
}
