package clusterconfig

import "testing"

func TestReadAffinityOptions(t *testing.T) {
	labels := map[string]string{"topology.kubernetes.io/zone": "eu.1", "kubernetes.io/hostname": "n1", "rack": "", "region": "r"}
	tests := []struct {
		ra       ReadAffinity
		fallback []string
		want     string
	}{
		{ReadAffinity{}, []string{"region"}, ""},
		{ReadAffinity{Enabled: true, CrushLocationLabels: []string{"topology.kubernetes.io/zone", "kubernetes.io/hostname", "rack"}}, nil,
			"read_from_replica=localize,crush_location=host:n1|zone:eu-1"},
		{ReadAffinity{Enabled: true}, []string{"region"}, "read_from_replica=localize,crush_location=region:r"},
		{ReadAffinity{Enabled: true}, nil, ""},
	}
	for _, tt := range tests {
		c := &Cluster{ReadAffinity: tt.ra}
		if got := c.ReadAffinityOptions(tt.fallback, labels); got != tt.want {
			t.Errorf("ReadAffinityOptions(%+v, %v) = %q, want %q", tt.ra, tt.fallback, got, tt.want)
		}
	}
}
