package faults

import (
	"os"
	"testing"
)

// TestMain runs the tests against a private cluster, stopped at the end
// whatever the outcome (a cluster abandoned by a crashed run is removed by
// the next one).
func TestMain(m *testing.M) {
	tearDown := setUp()
	code := m.Run()
	removeBuilds()
	tearDown()
	os.Exit(code)
}
