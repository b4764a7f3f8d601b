package faults

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seed-6a310834/ceph-csi/shared/testcluster"
)

// Where the drivers keep their data on the private cluster.
const (
	rbdPool         = "rbd"
	fsName          = "cephfs"
	metadataPool    = "cephfs.cephfs.meta"
	cephfsNamespace = "csi"
)

// trashDrainLimit bounds the wait for the mgr to purge the RBD trash,
// unless the mgr has scheduled a retry of a purge that failed.
const trashDrainLimit = 2 * time.Minute

// trashRetryLimit bounds the whole wait when the mgr retries: rbd_support
// retries a failed task after 30 s times its attempts, at most 5 min (a
// purge fails while the image still has a watcher, which an outage can
// leave for a while, or children).
const trashRetryLimit = 7 * time.Minute

// retrySlack is the time the mgr gets after a retry it scheduled.
const retrySlack = 30 * time.Second

// state is what the drivers can leave behind on the cluster.
type state struct {
	images, trash, rbdObjects, cephfsObjects []string
}

func clusterState(t *testing.T, c *testcluster.Cluster) state {
	t.Helper()
	return state{
		images:        strings.Fields(cli(t, c, "rbd", "ls", "--pool", rbdPool)),
		trash:         trashIDs(t, c),
		rbdObjects:    journalObjects(t, c, rbdPool, ""),
		cephfsObjects: journalObjects(t, c, metadataPool, cephfsNamespace),
	}
}

func trashIDs(t *testing.T, c *testcluster.Cluster) []string {
	t.Helper()
	var ids []string
	for _, line := range strings.Split(cli(t, c, "rbd", "trash", "ls", "--pool", rbdPool), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			ids = append(ids, f[0])
		}
	}
	return ids
}

// journalObjects lists the per-UUID journal records in a pool and
// namespace.
func journalObjects(t *testing.T, c *testcluster.Cluster, pool, namespace string) []string {
	t.Helper()
	var out []string
	for _, o := range strings.Fields(cli(t, c, "rados", "--pool", pool, "--namespace", namespace, "ls")) {
		if strings.HasPrefix(o, "csi.volume.") || strings.HasPrefix(o, "csi.snap.") {
			out = append(out, o)
		}
	}
	return out
}

// added returns the elements of after that are not in before.
func added(before, after []string) []string {
	var out []string
	for _, x := range after {
		if !slices.Contains(before, x) {
			out = append(out, x)
		}
	}
	return out
}

// audit asserts that the test left nothing behind that was not there when
// it started, for the drivers it used: no RBD image, an RBD trash the mgr
// drains, no journal record and no entry in the instance's journal
// directories, and no subvolume in the test's group (which it then
// removes).
func (s *setup) audit() {
	t := s.t
	start := time.Now()
	defer func() { t.Logf("audit in %s", time.Since(start).Round(100*time.Millisecond)) }()
	if s.used["rbd"] {
		s.auditRBD(t)
	}
	if s.used["cephfs"] {
		s.auditLeaks(t, "journal records in pool "+metadataPool, s.before.cephfsObjects,
			journalObjects(t, s.cluster, metadataPool, cephfsNamespace))
		s.auditDirectories(t, metadataPool, cephfsNamespace)
		s.removeGroup(t)
	}
	if t.Failed() {
		for _, d := range s.drivers {
			t.Logf("%s driver log, warnings and errors:\n%s", d.name, d.problems())
		}
	}
}

func (s *setup) auditRBD(t *testing.T) {
	t.Helper()
	c := s.cluster
	s.waitTrashDrained(t)
	if s.auditLeaks(t, "RBD trash entries the mgr did not purge", s.before.trash, trashIDs(t, c)) {
		t.Logf("rbd trash ls --long:\n%s\nmgr tasks: %s", cli(t, c, "rbd", "trash", "ls", "--long", "--pool", rbdPool),
			cli(t, c, "ceph", "rbd", "task", "list"))
	}
	s.auditLeaks(t, "RBD images", s.before.images, strings.Fields(cli(t, c, "rbd", "ls", "--pool", rbdPool)))
	s.auditLeaks(t, "journal records in pool "+rbdPool, s.before.rbdObjects, journalObjects(t, c, rbdPool, ""))
	s.auditDirectories(t, rbdPool, "")
}

// waitTrashDrained waits until the trash holds no entry that was not
// there before the test: at most trashDrainLimit, longer only while every
// entry left has a mgr task whose next retry is scheduled before
// trashRetryLimit. An entry no mgr task holds returns at once.
func (s *setup) waitTrashDrained(t *testing.T) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(trashDrainLimit)
	for {
		left := added(s.before.trash, trashIDs(t, s.cluster))
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			next, why := mgrRetry(t, s.cluster, left)
			if why == "" && next.After(start.Add(trashRetryLimit)) {
				why = "its retry is due after " + trashRetryLimit.String()
			}
			if why != "" {
				t.Logf("trash entries %v: no wait for the mgr: %s", left, why)
				return
			}
			t.Logf("trash entries %v: the mgr retries their purge at %s", left, next.Format(time.TimeOnly))
			deadline = next
		}
		time.Sleep(time.Second)
	}
}

// mgrTask is an entry of `ceph rbd task list`.
type mgrTask struct {
	Refs struct {
		Action  string `json:"action"`
		ImageID string `json:"image_id"`
	} `json:"refs"`
	RetryTime    string `json:"retry_time"`
	RetryMessage string `json:"retry_message"`
	InProgress   bool   `json:"in_progress"`
}

// mgrRetry returns when the mgr's last pending purge of the trash entries
// ids is due, at the earliest now, plus retrySlack; or why it will not
// purge them all.
func mgrRetry(t *testing.T, c *testcluster.Cluster, ids []string) (time.Time, string) {
	t.Helper()
	out := cli(t, c, "ceph", "rbd", "task", "list", "--format", "json")
	var tasks []mgrTask
	if err := json.Unmarshal([]byte(out), &tasks); err != nil {
		return time.Time{}, fmt.Sprintf("rbd task list: %v: %q", err, out)
	}
	var last time.Time
	for _, id := range ids {
		i := slices.IndexFunc(tasks, func(k mgrTask) bool { return k.Refs.Action == "trash remove" && k.Refs.ImageID == id })
		if i < 0 {
			return time.Time{}, "no mgr task purges " + id
		}
		due := time.Now() // queued or running
		if k := tasks[i]; k.RetryTime != "" && !k.InProgress {
			// The mgr writes its local time without a zone.
			d, err := time.ParseInLocation("2006-01-02T15:04:05.999999", k.RetryTime, time.Local)
			if err != nil {
				return time.Time{}, fmt.Sprintf("retry_time %q: %v", k.RetryTime, err)
			}
			t.Logf("mgr task for %s failed (%s), retry at %s", id, k.RetryMessage, d.Format(time.TimeOnly))
			if d.After(due) {
				due = d
			}
		}
		if due.After(last) {
			last = due
		}
	}
	return last.Add(retrySlack), ""
}

// auditLeaks reports the elements of after that are not in before.
func (s *setup) auditLeaks(t *testing.T, what string, before, after []string) bool {
	t.Helper()
	l := added(before, after)
	if len(l) > 0 {
		t.Errorf("%s left: %v", what, l)
	}
	return len(l) > 0
}

// auditDirectories asserts that the instance's journal directories list
// nothing.
func (s *setup) auditDirectories(t *testing.T, pool, namespace string) {
	t.Helper()
	for _, o := range []string{"csi.volumes." + s.instance, "csi.snaps." + s.instance} {
		keys, err := cliErr(s.cluster, "rados", "--pool", pool, "--namespace", namespace, "listomapkeys", o)
		if err == nil && strings.TrimSpace(keys) != "" {
			t.Errorf("journal directory %s/%s/%s still lists: %s", pool, namespace, o, strings.Fields(keys))
		}
	}
}

// removeGroup asserts that the test's subvolume group is empty and removes
// it.
func (s *setup) removeGroup(t *testing.T) {
	t.Helper()
	c := s.cluster
	out, err := cliErr(c, "ceph", "fs", "subvolume", "ls", fsName, "--group_name", s.group, "--format", "json")
	if err != nil {
		return // the test never created the group
	}
	var subvolumes []struct{ Name string }
	if err := json.Unmarshal([]byte(out), &subvolumes); err != nil {
		t.Errorf("subvolume ls: %v: %q", err, out)
	}
	if len(subvolumes) > 0 {
		t.Errorf("subvolumes left in group %s: %v", s.group, subvolumes)
		return
	}
	if _, err := cliErr(c, "ceph", "fs", "subvolumegroup", "rm", fsName, s.group); err != nil {
		t.Errorf("remove the subvolume group: %v", err)
	}
}
