package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRunVersion(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"--version"}, func(string) string { return "" }, &out, &errOut); code != 0 {
		t.Fatalf("--version exit code = %d, stderr %q", code, errOut.String())
	}
	if got := out.String(); !strings.HasPrefix(got, "liveness-probe "+version+"\n") || !strings.Contains(got, "\ngo-ceph: none\n") {
		t.Errorf("--version printed %q, want \"liveness-probe %s\" first and go-ceph none", got, version)
	}
}

func TestRunBadUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"--no-such-flag"}, func(string) string { return "" }, &out, &errOut); code != 2 {
		t.Errorf("unknown flag exit code = %d, want 2", code)
	}
	env := func(k string) string {
		if k == "PROBE_INTERVAL" {
			return "often"
		}
		return ""
	}
	errOut.Reset()
	if code := run(nil, env, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "PROBE_INTERVAL") {
		t.Errorf("bad PROBE_INTERVAL: exit %d, stderr %q; want 2 naming the variable", code, errOut.String())
	}
}

func TestRunHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"-h"}, func(string) string { return "" }, &out, &errOut); code != 0 {
		t.Errorf("-h exit code = %d, want 0", code)
	}
	if !strings.Contains(errOut.String(), "-csi-address") {
		t.Errorf("usage missing: %q", errOut.String())
	}
}
