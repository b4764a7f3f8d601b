package journal

import (
	"fmt"
	"strconv"
)

// KeyJournalPool is the attribute a record carries when its directory lives
// in another pool than its UUID object and image (a StorageClass
// journalPool).
const KeyJournalPool = "csi.journalpool"

// EncodePoolID renders a pool ID as ceph-csi stores it in csi.journalpool
// and in directory values: 16 lower-case hex digits (the big-endian 64-bit
// ID).
func EncodePoolID(id int64) string { return fmt.Sprintf("%016x", uint64(id)) }

// ParseJournalPool reads a csi.journalpool value. ceph-csi (and this
// project since the value became compatible) writes a 16-hex pool ID; this
// project's older records hold the pool name. A value of exactly 16 hex
// digits is read as an ID (ceph-csi reads it the same way), anything else
// as a name. For an ID, name is ""; for a name, id is SamePool.
func ParseJournalPool(v string) (id int64, name string) {
	if len(v) == 16 {
		if n, err := strconv.ParseUint(v, 16, 64); err == nil && n <= 1<<63-1 {
			return int64(n), ""
		}
	}
	return SamePool, v
}
