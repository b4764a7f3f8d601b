// Package compat is the ceph-csi compatibility tier of the CephFS driver's
// real-cluster tests: each test writes, itself, what a ceph-csi release
// leaves on the cluster (journal records in ceph-csi's exact keys,
// subvolume snapshots, reftracker objects, PV volume contexts), manages it
// through the driver's CSI calls, and the rig's audit asserts that the
// cluster holds nothing afterwards. The layouts were taken from ceph-csi's
// source (internal/journal, internal/cephfs/store, internal/util/reftracker);
// the tests do not depend on ceph-csi's code.
package compat
