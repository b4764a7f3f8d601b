package fake

import (
	"context"
	"strings"

	"github.com/seed-6a310834/ceph-csi/shared/journal/memstore"
)

// nonEmptyObjects lists the objects of st that still hold omap keys, as
// "namespace:oid".
func nonEmptyObjects(st *memstore.Store, ns string) []string {
	ctx := context.Background()
	names, _ := st.ListObjects(ctx, "")
	var out []string
	for _, n := range names {
		kv, err := st.ListOmap(ctx, n, "")
		if err == nil && len(kv) == 0 && isDirectory(n) {
			continue
		}
		out = append(out, ns+":"+n)
	}
	return out
}

// isDirectory reports whether oid is a journal directory (csi.volumes.*,
// csi.snaps.* or csi.groups.*), which may stay behind empty.
func isDirectory(oid string) bool {
	return strings.HasPrefix(oid, "csi.volumes.") || strings.HasPrefix(oid, "csi.snaps.") ||
		strings.HasPrefix(oid, "csi.groups.")
}
