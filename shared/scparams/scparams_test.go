package scparams

import (
	"strings"
	"testing"
)

var table = NewTable(
	Key{Name: "clusterID", Support: Implemented, Doc: "the cluster"},
	Key{Name: "pool", Support: Implemented, Doc: "the pool"},
	Key{Name: "thickProvision", Support: NoOp, Doc: "ignored"},
	Key{Name: "encrypted", Support: OffOnly, Off: []string{"false"}, Doc: "off only"},
	Key{Name: "topologyConstrainedPools", Support: NotSupported, Doc: "later"},
	Key{Name: "csi.storage.k8s.io/", Prefix: true, Support: NoOp, Doc: "sidecar keys"},
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name   string
		params map[string]string
		want   string // "" = accepted
	}{
		{"empty", nil, ""},
		{"implemented", map[string]string{"clusterID": "c", "pool": "p"}, ""},
		{"no-op any value", map[string]string{"thickProvision": "true"}, ""},
		{"off value", map[string]string{"encrypted": "False"}, ""},
		{"on value", map[string]string{"encrypted": "true"},
			`parameters.encrypted: "true" is not supported yet by this driver (accepted: "false")`},
		{"not supported", map[string]string{"topologyConstrainedPools": "[]"},
			"parameters.topologyConstrainedPools: is not supported yet by this driver"},
		{"prefix", map[string]string{"csi.storage.k8s.io/pvc/name": "x"}, ""},
		{"typo", map[string]string{"clusterId": "c"},
			`parameters.clusterId: is not a known parameter (did you mean "clusterID"?)`},
		{"typo 2", map[string]string{"thinProvision": "c"},
			`parameters.thinProvision: is not a known parameter (did you mean "thickProvision"?)`},
		{"far from everything", map[string]string{"zzz": "c"}, "parameters.zzz: is not a known parameter"},
		{"first in key order", map[string]string{"pool": "p", "b": "1", "a": "1"}, "parameters.a: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := table.Check(tc.params)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Check() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
				t.Fatalf("Check() = %v, want %q", err, tc.want)
			case tc.want == "parameters.zzz: is not a known parameter" && err.Error() != tc.want:
				t.Fatalf("Check() = %v, want no suggestion", err)
			}
		})
	}
}

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"a", "", 1}, {"kitten", "sitting", 3}, {"pool", "pool", 0}, {"pol", "pool", 1}} {
		if got := distance(tc.a, tc.b); got != tc.want {
			t.Errorf("distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestMarkdownListsEveryKey(t *testing.T) {
	md := table.Markdown()
	for _, k := range table.Keys() {
		if !strings.Contains(md, "`"+k.Name) {
			t.Errorf("markdown lacks %s", k.Name)
		}
	}
	if !strings.Contains(md, "| `encrypted` | accepted when off | off only |") {
		t.Errorf("markdown row of encrypted wrong:\n%s", md)
	}
}

func TestDuplicateKeyPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a duplicate key")
		}
	}()
	NewTable(Key{Name: "a"}, Key{Name: "a"})
}
