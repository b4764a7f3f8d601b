package faults

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestMgrRetryOfFailedPurge checks what the audit relies on to wait for
// the mgr: a trash purge that failed (the trashed image still has a
// snapshot with a clone) is reported with the retry the mgr scheduled;
// an entry no task holds is reported as such.
func TestMgrRetryOfFailedPurge(t *testing.T) {
	c := requireCluster(t)
	parent, child := "mgr-retry-parent", "mgr-retry-child"
	cli(t, c, "rbd", "create", "--size", "4M", rbdPool+"/"+parent)
	cli(t, c, "rbd", "snap", "create", rbdPool+"/"+parent+"@s")
	cli(t, c, "rbd", "clone", "--rbd-default-clone-format", "2", rbdPool+"/"+parent+"@s", rbdPool+"/"+child)
	var info struct{ ID string }
	if err := json.Unmarshal([]byte(cli(t, c, "rbd", "info", "--format", "json", rbdPool+"/"+parent)), &info); err != nil {
		t.Fatal(err)
	}
	cli(t, c, "rbd", "trash", "mv", rbdPool+"/"+parent)
	t.Cleanup(func() {
		for _, args := range [][]string{{"rbd", "rm", rbdPool + "/" + child}, {"rbd", "trash", "restore", "--pool", rbdPool, info.ID},
			{"rbd", "snap", "purge", rbdPool + "/" + parent}, {"rbd", "rm", rbdPool + "/" + parent}} {
			if _, err := cliErr(c, args[0], args[1:]...); err != nil {
				t.Error(err)
			}
		}
	})
	var task struct{ ID string }
	if err := json.Unmarshal([]byte(cli(t, c, "ceph", "rbd", "task", "add", "trash", "remove", rbdPool+"/"+info.ID)), &task); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cliErr(c, "ceph", "rbd", "task", "cancel", task.ID) })
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(cli(t, c, "ceph", "rbd", "task", "list"), "retry_time") {
		if time.Now().After(deadline) {
			t.Fatal("the mgr did not fail the purge of a trashed image with a cloned snapshot")
		}
		time.Sleep(200 * time.Millisecond)
	}
	due, why := mgrRetry(t, c, []string{info.ID})
	if why != "" {
		t.Fatalf("mgrRetry: %s", why)
	}
	// The first retry is 30 s after the failure; due adds retrySlack.
	if wait := time.Until(due); wait < retrySlack || wait > 30*time.Second+retrySlack {
		t.Errorf("mgrRetry: due in %s, want between %s and %s", wait, retrySlack, 30*time.Second+retrySlack)
	}
	if _, why := mgrRetry(t, c, []string{info.ID, "0123456789ab"}); !strings.Contains(why, "no mgr task purges 0123456789ab") {
		t.Errorf("mgrRetry with an entry no task holds: %q", why)
	}
}
