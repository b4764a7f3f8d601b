package audit

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func parse(args ...string) (*Flags, error) {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := RegisterFlags(fs, "userID and userKey")
	return f, f.Parse(fs, args)
}

func TestParseFlags(t *testing.T) {
	f, err := parse("--secrets-dir", "/s", "--grace=30m", "--delete", "--volume-name-prefix", "a-,b-", "--volume-name-prefix=c-")
	if err != nil {
		t.Fatal(err)
	}
	if f.Grace != 30*time.Minute || !f.Delete || f.InstanceID != "default" || strings.Join(f.VolumePrefixes, " ") != "a- b- c-" {
		t.Fatalf("flags %+v", f)
	}
	if f, _ := parse("--keyring", "/k"); f.Grace != DefaultGrace || f.Delete {
		t.Fatalf("defaults: grace %s, delete %v; want 1h and report only", f.Grace, f.Delete)
	}
}

func TestParseFlagsRejects(t *testing.T) {
	tests := []struct {
		args []string
		flag string
	}{
		{[]string{}, "--secrets-dir or --keyring"},
		{[]string{"--secrets-dir", "/s", "--keyring", "/k"}, "--secrets-dir or --keyring"},
		{[]string{"--secrets-dir", "/s", "--grace=-1s"}, "--grace"},
		{[]string{"--secrets-dir", "/s", "--timeout=0s"}, "--timeout"},
		{[]string{"--secrets-dir", "/s", "--instance-id="}, "--instance-id"},
		{[]string{"--secrets-dir", "/s", "extra"}, "unexpected arguments"},
		{[]string{"--no-such-flag"}, "no-such-flag"},
	}
	for _, tc := range tests {
		_, err := parse(tc.args...)
		if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), tc.flag) {
			t.Errorf("%q: %v, want a usage error naming %s", tc.args, err, tc.flag)
		}
		if code := ExitCode(io.Discard, "drv", err); code != ExitUsage {
			t.Errorf("%q: exit %d, want %d", tc.args, code, ExitUsage)
		}
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		err   error
		code  int
		print bool
	}{
		{nil, ExitClean, false},
		{flag.ErrHelp, ExitClean, false},
		{fmt.Errorf("x: %w", ErrOrphansRemain), ExitOrphans, false},
		{fmt.Errorf("%w: --pool: required", ErrUsage), ExitUsage, true},
		{errors.New("cannot connect"), ExitError, true},
	}
	for _, tc := range tests {
		var out bytes.Buffer
		if code := ExitCode(&out, "rbd-driver", tc.err); code != tc.code || (out.Len() > 0) != tc.print {
			t.Errorf("ExitCode(%v) = %d printing %q; want %d, printed %v", tc.err, code, out.String(), tc.code, tc.print)
		}
	}
}

func TestUsageDocumentsExitCodes(t *testing.T) {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	var out bytes.Buffer
	fs.SetOutput(&out)
	RegisterFlags(fs, "userID and userKey")
	SetUsage(fs, "drv audit [flags]", "what it does")
	if err := fs.Parse([]string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatal(err)
	}
	for _, want := range []string{"usage: drv audit [flags]", "what it does", "-grace", "exit codes", "3  orphans found"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, out.String())
		}
	}
}

func TestFlagsCluster(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	one := write("one.json", `[{"clusterID":"a","monitors":["m:6789"]}]`)
	two := write("two.json", `[{"clusterID":"a","monitors":["m:6789"]},{"clusterID":"b","monitors":["n:6789"]}]`)
	if c, err := (&Flags{ClusterConfig: one}).Cluster(); err != nil || c.ClusterID != "a" {
		t.Fatalf("the only cluster: %v, %v", c, err)
	}
	if c, err := (&Flags{ClusterConfig: two, ClusterID: "b"}).Cluster(); err != nil || c.ClusterID != "b" {
		t.Fatalf("--cluster-id b: %v, %v", c, err)
	}
	if _, err := (&Flags{ClusterConfig: two}).Cluster(); err == nil || !strings.Contains(err.Error(), "--cluster-id") {
		t.Fatalf("two clusters without --cluster-id: %v", err)
	}
	if _, err := (&Flags{ClusterConfig: one, ClusterID: "zz"}).Cluster(); err == nil || !strings.Contains(err.Error(), "--cluster-id") {
		t.Fatalf("unknown --cluster-id: %v", err)
	}
}

func TestFlagsCredentialsNeverShowTheKey(t *testing.T) {
	const key = "AQBpZ2h0eSBzZWNyZXQga2V5IG9mIHRoZSB0ZXN0AA=="
	dir := t.TempDir()
	for k, v := range map[string]string{"userID": "csi-rbd\n", "userKey": " " + key + "\n"} {
		if err := os.WriteFile(filepath.Join(dir, k), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c, err := (&Flags{SecretsDir: dir}).Credentials("userID", "userKey")
	if err != nil || c.ID != "csi-rbd" || c.Key != key {
		t.Fatalf("credentials %v, %v", c, err)
	}
	if _, err := (&Flags{SecretsDir: dir}).Credentials("adminID", "adminKey"); err == nil || !strings.Contains(err.Error(), "--secrets-dir") {
		t.Fatalf("missing adminID file: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "userKey"), []byte("not base64! "+key), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = (&Flags{SecretsDir: dir}).Credentials("userID", "userKey")
	if err == nil || strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "userKey") {
		t.Fatalf("a bad key must fail naming the field, not showing it: %v", err)
	}
}
