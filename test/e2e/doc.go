// Package e2e holds the end-to-end scenarios (its _test.go files): a real
// Kubernetes control plane and the real CSI sidecars drive both drivers
// against the local Ceph cluster. test/e2e/run.sh starts and stops the
// control plane, the drivers and the sidecars, prepares the test's corner of
// the Ceph cluster, and then runs `go test` here with the environment
// described in README.md. Run directly, without that environment, the tests
// skip.
//
// Each scenario is written once against the driver interface (driver_test.go)
// and runs for the RBD and the CephFS driver; one file per scenario family.
package e2e
