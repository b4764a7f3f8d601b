package compat

import (
	"sort"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
)

// csiCreate is a CreateVolume request with a given parameter set.
type csiCreate struct {
	r      *rig
	name   string
	params map[string]string
}

func (c csiCreate) req() *csi.CreateVolumeRequest {
	return &csi.CreateVolumeRequest{Name: c.name, CapacityRange: &csi.CapacityRange{RequiredBytes: fixtureSize},
		VolumeCapabilities: mountCap(), Parameters: c.params, Secrets: c.r.secrets}
}

func keysOf(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func containsFold(list []string, v string) bool {
	for _, s := range list {
		if strings.EqualFold(s, v) {
			return true
		}
	}
	return false
}

func hasPrefixed(names []string, prefix string) bool {
	for _, n := range names {
		if strings.HasPrefix(n, prefix) && len(n) == len(prefix)+36 {
			return true
		}
	}
	return false
}
