package main

import "google.golang.org/grpc/codes"

var steps = map[string]func(*env){
	// RBD: ceph-csi makes, ours manages.
	"rbd-cephcsi-make": func(e *env) {
		e.volume("cc-vol", "", false, false)
		e.snapshot("cc-snap", "cc-vol", false)
		e.volume("cc-restore", "snap:cc-snap", false, false)
		e.volume("cc-clone", "vol:cc-vol", false, false)
	},
	"rbd-ours-manage": func(e *env) {
		e.volume("cc-vol", "", false, true)
		e.snapshot("cc-snap", "cc-vol", true)
		e.listed("cc-snap", "cc-vol")
		e.volume("cc-restore", "snap:cc-snap", false, true)
		e.volume("cc-clone", "vol:cc-vol", false, true)
		e.volume("our-restore", "snap:cc-snap", false, false)
		e.volume("our-clone", "vol:cc-vol", false, false)
		e.expand("cc-vol", 128*mib)
		for _, v := range []string{"our-restore", "our-clone", "cc-restore", "cc-clone"} {
			e.deleteVolume(v)
		}
		e.deleteSnapshot("cc-snap")
		e.deleteVolume("cc-vol")
	},
	// RBD: ours makes, ceph-csi reads.
	"rbd-ours-make": func(e *env) {
		e.volume("o-vol", "", false, false)
		e.volume("o-clone", "vol:o-vol", false, false)
	},
	"rbd-cephcsi-read": func(e *env) {
		e.volume("o-vol", "", false, true)
		e.volume("o-clone", "vol:o-vol", false, true)
		e.expand("o-vol", 128*mib)
		e.deleteVolume("o-clone")
		e.deleteVolume("o-vol")
	},
	// RBD with the cluster's default features and a separate journal pool.
	"rbd-cephcsi-make-jp": func(e *env) {
		jp(e)
		e.volume("jc-vol", "", false, false)
		e.snapshot("jc-snap", "jc-vol", false)
		e.volume("jc-restore", "snap:jc-snap", false, false)
	},
	"rbd-ours-manage-jp": func(e *env) {
		jp(e)
		e.volume("jc-vol", "", false, true)
		e.snapshot("jc-snap", "jc-vol", true)
		e.listed("jc-snap", "jc-vol")
		e.volume("jc-restore", "snap:jc-snap", false, true)
		e.volume("jo-restore", "snap:jc-snap", false, false)
		e.volume("jo-clone", "vol:jc-vol", false, false)
		e.expand("jc-vol", 128*mib)
		for _, v := range []string{"jo-restore", "jo-clone", "jc-restore"} {
			e.deleteVolume(v)
		}
		e.deleteSnapshot("jc-snap")
		e.deleteVolume("jc-vol")
		e.volume("jo-vol", "", false, false)
		e.volume("jo-vclone", "vol:jo-vol", false, false)
	},
	// Both drivers journal these in `pool` and ignore journalPool for
	// volumes, so ceph-csi's retries find ours by name.
	"rbd-cephcsi-read-jp": func(e *env) {
		jp(e)
		e.volume("jo-vol", "", false, true)
		e.volume("jo-vclone", "vol:jo-vol", false, true)
		e.expand("jo-vol", 128*mib)
		e.deleteVolume("jo-vclone")
		e.deleteVolume("jo-vol")
	},
	// CephFS: ceph-csi makes, ours manages.
	"fs-cephcsi-make": func(e *env) {
		e.volume("cf-vol", "", false, false)
		e.snapshot("cf-snap", "cf-vol", false)
		e.volume("cf-restore", "snap:cf-snap", false, false)
		e.volume("cf-clone", "vol:cf-vol", false, false)
		e.volume("cf-shallow", "snap:cf-snap", true, false)
		e.volume("cf3-vol", "", false, false)
		e.snapshot("cf3-snap", "cf3-vol", false)
		e.volume("cf3-shallow", "snap:cf3-snap", true, false)
	},
	"fs-ours-manage": func(e *env) {
		e.volume("cf-vol", "", false, true)
		e.snapshot("cf-snap", "cf-vol", true)
		e.listed("cf-snap", "cf-vol")
		e.volume("cf-restore", "snap:cf-snap", false, true)
		e.volume("cf-clone", "vol:cf-vol", false, true)
		e.volume("cf-shallow", "snap:cf-snap", true, true)
		e.volume("of-restore", "snap:cf-snap", false, false)
		e.volume("of-shallow", "snap:cf-snap", true, false)
		e.expand("cf-vol", 128*mib)
		for _, v := range []string{"of-shallow", "cf-shallow", "of-restore", "cf-restore", "cf-clone"} {
			e.deleteVolume(v)
		}
		e.deleteSnapshot("cf-snap")
		e.deleteVolume("cf-vol")
		// a snapshot deleted while shallow volumes of both drivers use it:
		// ours refuses (FailedPrecondition), ceph-csi masks it and the
		// last shallow volume takes it along.
		e.volume("of3-shallow", "snap:cf3-snap", true, false)
		e.deleteSnapshotCode("cf3-snap", codes.FailedPrecondition)
	},
	"fs-cephcsi-mask": func(e *env) {
		e.deleteSnapshot("cf3-snap")
		e.deleteVolume("cf3-shallow")
	},
	"fs-ours-finish": func(e *env) {
		e.deleteVolume("of3-shallow")
		e.deleteVolume("cf3-vol")
	},
	// CephFS: ours makes, ceph-csi reads.
	"fs-ours-make": func(e *env) {
		e.volume("of2-vol", "", false, false)
		e.snapshot("of2-snap", "of2-vol", false)
		e.volume("of2-shallow", "snap:of2-snap", true, false)
		e.volume("of2-restore", "snap:of2-snap", false, false)
	},
	"fs-cephcsi-read": func(e *env) {
		e.volume("of2-vol", "", false, true)
		e.snapshot("of2-snap", "of2-vol", true)
		e.volume("of2-shallow", "snap:of2-snap", true, true)
		e.volume("of2-restore", "snap:of2-snap", false, true)
		e.volume("cf2-shallow", "snap:of2-snap", true, false)
		e.deleteVolume("of2-shallow")
		e.deleteSnapshot("of2-snap")
		e.deleteVolume("cf2-shallow")
		e.deleteVolume("of2-restore")
		e.deleteVolume("of2-vol")
	},
}

// jp switches to the cluster's default image features and the journal pool
// "rbd-journal".
func jp(e *env) {
	delete(e.params, "imageFeatures")
	e.params["journalPool"] = "rbd-journal"
}
