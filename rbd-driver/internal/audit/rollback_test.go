package audit_test

import (
	"testing"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/audit"
	"github.com/seed-6a310834/ceph-csi/shared/audit/audittest"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
)

// TestAuditRollbackLeftovers: after a rollback to ceph-csi, ceph-csi's
// DeleteSnapshot of one of our snapshots removes only its record (it looks
// for a csi-snap-<uuid> image, finds none and undoes the reservation), and
// its DeleteVolume moves the volume's image to the trash with the snapshot
// still on it, where the purge can never finish. The audit reports the
// trashed image and --delete removes the snapshot and purges it.
func TestAuditRollbackLeftovers(t *testing.T) {
	r := newRig(t)
	vol := r.createVolume("pvc-rollback", nil)
	r.Snapshot("snap-rollback", vol.GetVolumeId())
	image := vol.GetVolumeContext()["imageName"]
	ref := backend.ImageRef{PoolRef: backend.PoolRef{Pool: pool}, Name: image}
	id, err := r.sess.ImageID(ctx(t), ref)
	if err != nil {
		t.Fatal(err)
	}

	// ceph-csi's DeleteSnapshot, then DeleteVolume.
	r.undo(journal.Snapshots, "snap-rollback")
	if err := r.sess.Trash(ctx(t), ref); err != nil {
		t.Fatal(err)
	}
	r.undo(journal.Volumes, "pvc-rollback")
	if _, err := r.sess.PurgeTrash(ctx(t), backend.PoolRef{Pool: pool}, id); err != nil {
		t.Logf("purge of the trashed image: %v", err)
	}
	snaps, err := r.sess.TrashSnapshots(ctx(t), backend.PoolRef{Pool: pool}, id)
	if err != nil || len(snaps) != 1 {
		t.Fatalf("trashed image snapshots: %v, %v; want the volume's one snapshot", snaps, err)
	}

	audittest.Equal(t, "findings", r.scan(), []string{
		"unrecorded " + pool + "/" + image + " (trash ID " + id + ")",
	})
	if code, _ := r.cmd.Run("--delete", "--grace=0s"); code != audit.ExitClean {
		t.Fatalf("--delete --grace=0s: exit %d, want %d", code, audit.ExitClean)
	}
	audittest.Equal(t, "findings at the end", r.scan(), nil)
}

// undo removes the record of a request name, as ceph-csi's undo of a
// reservation does.
func (r *rig) undo(kind journal.Kind, name string) {
	r.t.Helper()
	j := r.journal(kind)
	rec, err := j.Lookup(ctx(r.t), name)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := j.Undo(ctx(r.t), rec); err != nil {
		r.t.Fatal(err)
	}
}
