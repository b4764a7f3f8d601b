package clusterconfig

import (
	"reflect"
	"strings"
	"testing"
)

// realFile is shaped like the files ceph-csi users have, extra fields
// included.
const realFile = `[
  {
    "clusterID": "4a9e463a-4853-4237-a5c5-9ae9d25bacda",
    "monitors": ["10.0.0.1:6789", "10.0.0.2:6789"],
    "rbd": {"radosNamespace": "k8s", "mirrorDaemonCount": 1},
    "cephFS": {
      "subvolumeGroup": "group1",
      "radosNamespace": "ns1",
      "netNamespaceFilePath": "/var/run/netns/x",
      "kernelMountOptions": "ms_mode=secure"
    },
    "readAffinity": {"enabled": true, "crushLocationLabels": ["zone"]}
  },
  {"clusterID": "minimal", "monitors": ["[v2:10.0.0.3:3300/0,v1:10.0.0.3:6789/0]"]}
]`

type parseCase struct {
	name    string
	data    string
	want    []Cluster
	wantErr string
}

func parseCases() []parseCase {
	return []parseCase{
		{
			name: "real file",
			data: realFile,
			want: []Cluster{
				{
					ClusterID: "4a9e463a-4853-4237-a5c5-9ae9d25bacda",
					Monitors:  []string{"10.0.0.1:6789", "10.0.0.2:6789"},
					RBD:       RBDConfig{RadosNamespace: "k8s"},
					CephFS:    CephFSConfig{SubvolumeGroup: "group1", RadosNamespace: "ns1"},
					CephFSNode: CephFSNodeConfig{
						NetNamespaceFilePath: "/var/run/netns/x", KernelMountOptions: "ms_mode=secure",
					},
					ReadAffinity: ReadAffinity{Enabled: true, CrushLocationLabels: []string{"zone"}},
				},
				{
					ClusterID: "minimal",
					Monitors:  []string{"[v2:10.0.0.3:3300/0,v1:10.0.0.3:6789/0]"},
					CephFS:    CephFSConfig{SubvolumeGroup: "csi", RadosNamespace: "csi"},
				},
			},
		},
		{
			name: "empty cephFS strings get defaults",
			data: `[{"clusterID": "c", "monitors": ["m"], "cephFS": {"subvolumeGroup": "", "radosNamespace": ""}}]`,
			want: []Cluster{{ClusterID: "c", Monitors: []string{"m"}, CephFS: CephFSConfig{"csi", "csi"}}},
		},
		{name: "empty array", data: `[]`, want: []Cluster{}},
		{name: "not JSON", data: `[{`, wantErr: "decoding JSON"},
		{name: "empty file", data: ``, wantErr: "decoding JSON"},
		{name: "object instead of array", data: `{"clusterID": "c"}`, wantErr: "decoding JSON"},
		{name: "monitors not a list", data: `[{"clusterID": "c", "monitors": "m"}]`, wantErr: "decoding JSON"},
		{name: "trailing garbage", data: `[] x`, wantErr: "decoding JSON"},
		{name: "empty clusterID is left out", data: `[{"clusterID": "c", "monitors": ["m"]}, {"monitors": ["m"]}]`,
			want: []Cluster{{ClusterID: "c", Monitors: []string{"m"}, CephFS: CephFSConfig{"csi", "csi"}}}},
		{name: "null entry is left out", data: `[null]`, want: []Cluster{}},
		{name: "no monitors is left out", data: `[{"clusterID": "c"}, {"clusterID": "d", "monitors": ["m"]}]`,
			want: []Cluster{{ClusterID: "d", Monitors: []string{"m"}, CephFS: CephFSConfig{"csi", "csi"}}}},
		{
			name: "duplicate clusterID: the first wins",
			data: `[{"clusterID": "a", "monitors": ["m"]}, {"clusterID": "b", "monitors": ["m"]}, {"clusterID": "a", "monitors": ["n"]}]`,
			want: []Cluster{
				{ClusterID: "a", Monitors: []string{"m"}, CephFS: CephFSConfig{"csi", "csi"}},
				{ClusterID: "b", Monitors: []string{"m"}, CephFS: CephFSConfig{"csi", "csi"}},
			},
		},
	}
}

func TestParse(t *testing.T) {
	for _, tt := range parseCases() {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.data))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse() = %+v, %v; want error containing %q", got, err, tt.wantErr)
				}

				return
			}

			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Parse() = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestParseFileReasons(t *testing.T) {
	f, err := ParseFile([]byte(`[
		{"clusterID": "empty", "monitors": []},
		{"clusterID": "blank", "monitors": ["m", " "]},
		{"monitors": ["m"]},
		{"clusterID": "good", "monitors": ["m"]},
		{"clusterID": "good", "monitors": []},
		{"clusterID": "empty", "monitors": ["m"]}
	]`))
	if err != nil {
		t.Fatal(err)
	}

	want := map[string]string{
		"empty": `entry 0 (clusterID "empty"): no monitors`,
		"blank": `entry 1 (clusterID "blank"): monitor 1 is empty`,
	}
	if len(f.Invalid) != len(want) {
		t.Fatalf("Invalid = %v; want %v", f.Invalid, want)
	}

	for id, msg := range want {
		if f.Invalid[id] == nil || f.Invalid[id].Error() != msg {
			t.Errorf("Invalid[%q] = %v; want %q", id, f.Invalid[id], msg)
		}
	}

	if len(f.Clusters) != 1 || f.Clusters[0].ClusterID != "good" || f.Clusters[0].Monitors[0] != "m" {
		t.Errorf("Clusters = %+v; want only the first entry of good", f.Clusters)
	}

	wantIgnored := []string{
		"entry 2: empty clusterID",
		`entry 4: clusterID "good" already used by entry 3 (the first one is used)`,
		`entry 5: clusterID "empty" already used by entry 0 (the first one is used)`,
	}
	if !reflect.DeepEqual(f.Ignored, wantIgnored) {
		t.Errorf("Ignored = %q; want %q", f.Ignored, wantIgnored)
	}
}

func TestMonitorsString(t *testing.T) {
	tests := []struct {
		monitors []string
		want     string
	}{
		{nil, ""},
		{[]string{"a:6789"}, "a:6789"},
		{[]string{"a:6789", "b:6789", "[::1]:3300"}, "a:6789,b:6789,[::1]:3300"},
	}

	for _, tt := range tests {
		c := &Cluster{Monitors: tt.monitors}
		if got := c.MonitorsString(); got != tt.want {
			t.Errorf("MonitorsString(%q) = %q; want %q", tt.monitors, got, tt.want)
		}
	}
}

func TestParseNodeSettings(t *testing.T) {
	got, err := Parse([]byte(`[{"clusterID":"c","monitors":["m"],
		"rbd":{"netNamespaceFilePath":"/var/run/netns/rbd"},
		"cephFS":{"subvolumeGroup":"g","kernelMountOptions":"ms_mode=secure","fuseMountOptions":"debug_client=1","netNamespaceFilePath":"/var/run/netns/fs"},
		"readAffinity":{"enabled":true,"crushLocationLabels":["topology.kubernetes.io/zone","kubernetes.io/hostname"]}}]`))
	if err != nil {
		t.Fatal(err)
	}
	c := got[0]
	if c.RBD.NetNamespaceFilePath != "/var/run/netns/rbd" || c.CephFS.SubvolumeGroup != "g" ||
		c.CephFSNode != (CephFSNodeConfig{KernelMountOptions: "ms_mode=secure", FuseMountOptions: "debug_client=1", NetNamespaceFilePath: "/var/run/netns/fs"}) ||
		!c.ReadAffinity.Enabled || len(c.ReadAffinity.CrushLocationLabels) != 2 {
		t.Fatalf("Parse() = %+v", c)
	}
}
