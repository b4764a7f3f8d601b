package main

import (
	"context"
	"io"
	"strings"
	"testing"
)

func TestRBDFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"soft over hard", []string{"--clone-soft-depth=9", "--clone-hard-depth=8"}, "--clone-soft-depth"},
		{"zero soft", []string{"--clone-soft-depth=0"}, "--clone-soft-depth"},
		{"negative max volumes", []string{"--max-volumes-per-node=-1"}, "--max-volumes-per-node"},
		{"bad topology", []string{"--topology=zone"}, "--topology"},
		{"bad memory limit", []string{"--memory-limit=lots"}, "--memory-limit"},
		{"empty state dir", []string{"--state-dir="}, "--state-dir"},
		{"stray argument", []string{"extra"}, "unexpected arguments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--node-id=n1"}, tc.args...)
			err := run(context.Background(), args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run(%q) = %v, want an error naming %s", args, err, tc.want)
			}
		})
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"": 0, "1024": 1024, "48MiB": 48 << 20, "1GiB": 1 << 30, "4KiB": 4096} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"-1", "0", "MiB", "1.5GiB", "12MB"} {
		if _, err := parseBytes(in); err == nil {
			t.Errorf("parseBytes(%q) accepted", in)
		}
	}
}

func TestParseTopology(t *testing.T) {
	got, err := parseTopology("topology.rbd.csi.ceph.com/zone=z1,topology.rbd.csi.ceph.com/rack=r2")
	if err != nil || len(got) != 2 || got["topology.rbd.csi.ceph.com/zone"] != "z1" {
		t.Fatalf("parseTopology = %v, %v", got, err)
	}
	for _, bad := range []string{"a", "=b", "a=", "a=b,"} {
		if _, err := parseTopology(bad); err == nil {
			t.Errorf("parseTopology(%q) accepted", bad)
		}
	}
}
