package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestFindMount(t *testing.T) {
	info := "22 1 0:21 / /proc rw - proc proc rw\n" +
		"40 27 7:0 / /work/demo/staging rw,relatime - xfs /dev/loop0 rw,nouuid\n" +
		"41 27 7:0 / /work/demo/target rw,relatime shared:1 - xfs /dev/loop0 rw\n"
	if got := findMount(info, "/work/demo/staging"); got != "/dev/loop0 (xfs)" {
		t.Fatalf("findMount() = %q", got)
	}
	if got := findMount(info, "/nothing"); got != "?" {
		t.Fatalf("findMount(missing) = %q", got)
	}
}

func TestFlags(t *testing.T) {
	t.Setenv("CEPH_ADMIN_KEY", "")
	var stderr bytes.Buffer
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--pool", "p", "--work-dir", "/w", "--cluster-id", "c"}, "--endpoint is required"},
		{[]string{"--endpoint", "unix:///x", "--pool", "p", "--work-dir", "/w", "--cluster-id", "c", "--expand-mib", "1"}, "--expand-mib"},
		{[]string{"--endpoint", "unix:///x", "--pool", "p", "--work-dir", "/w", "--cluster-id", "c"}, "CEPH_ADMIN_KEY"},
		{[]string{"--bogus"}, "bogus"},
	}
	for _, tt := range tests {
		err := run(context.Background(), tt.args, &bytes.Buffer{}, &stderr)
		if err == nil || !strings.Contains(err.Error()+stderr.String(), tt.want) {
			t.Errorf("run(%q) = %v; want an error about %s", tt.args, err, tt.want)
		}
	}
}
