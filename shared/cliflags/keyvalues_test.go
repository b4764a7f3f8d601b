package cliflags

import (
	"reflect"
	"testing"
)

func TestParseKeyValues(t *testing.T) {
	got, err := ParseKeyValues("topology.kubernetes.io/zone=z1, kubernetes.io/hostname=n1")
	if err != nil || !reflect.DeepEqual(got, map[string]string{"topology.kubernetes.io/zone": "z1", "kubernetes.io/hostname": "n1"}) {
		t.Fatalf("ParseKeyValues() = %v, %v", got, err)
	}
	for _, bad := range []string{"a", "a=", "=b", "a=b,,"} {
		if _, err := ParseKeyValues(bad); err == nil {
			t.Errorf("ParseKeyValues(%q) succeeded", bad)
		}
	}
	if got := SplitList(" a, ,b,"); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Fatalf("SplitList() = %q", got)
	}
}
