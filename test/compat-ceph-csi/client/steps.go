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
