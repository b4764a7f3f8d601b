// Package faults holds tests only: backend and node faults of both CSI
// drivers against a private real Ceph cluster that the tests start, break
// and stop themselves (test/cluster.sh with a CLUSTER_DIR and monitor port
// of their own), with the driver binaries running as child processes
// (shared/driverproc).
//
// Backend faults: the monitor, then the OSD, is stopped while requests are
// in flight. Every request must be answered by the driver before the
// client's deadline with Unavailable or DeadlineExceeded (the drivers run
// with Ceph timeouts shorter than that deadline), the driver process must
// survive, and the same process must serve again once the daemon is back.
//
// Node faults: the node plugin process is killed and started again while
// volumes are staged (rbd-fuse + loop device, ceph-fuse): the mounts keep
// working and the new process unpublishes and unstages them, leaving no
// mount, loop device or helper process behind.
//
// The tests need root, the Ceph daemons and the fuse helpers; they run
// under `make test` (CEPH_CSI_REQUIRE_CLUSTER=1) and are skipped otherwise
// unless CEPH_CSI_FAULTS=1. CEPH_CSI_FAULTS_CLUSTER_DIR=<dir> runs them on a
// cluster of test/cluster.sh that is already running (development).
package faults
