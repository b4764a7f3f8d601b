package journal_test

import (
	"testing"

	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/journal/journaltest"
	"github.com/seed-6a310834/ceph-csi/shared/journal/memstore"
)

// TestConformanceMemStore runs the journal conformance suite over the
// in-memory store. The same suite runs over real RADOS in shared/cephconn.
func TestConformanceMemStore(t *testing.T) {
	journaltest.Run(t, func(t *testing.T) journal.ObjectStore { return memstore.New() })
}

// TestGroupConformanceMemStore runs the group journal conformance suite over
// the in-memory store; shared/cephconn runs it over real RADOS.
func TestGroupConformanceMemStore(t *testing.T) {
	journaltest.RunGroups(t, func(t *testing.T) journal.ObjectStore { return memstore.New() })
}
