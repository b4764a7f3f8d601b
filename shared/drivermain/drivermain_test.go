package drivermain

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"reflect"
	"testing"

	"go.uber.org/zap"

	"github.com/seed-6a310834/ceph-csi/shared/buildinfo"
	"github.com/seed-6a310834/ceph-csi/shared/cliflags"
)

// fakeFlags is a driver's own flag set: --fail makes Serve fail.
type fakeFlags struct {
	fail   *bool
	served *[]string
}

func (f fakeFlags) Validate(cliflags.Mode) error { return nil }

func (f fakeFlags) Serve(_ context.Context, opts *cliflags.Options, version string, _ *zap.Logger) error {
	*f.served = append(*f.served, opts.NodeID, version)
	if *f.fail {
		return errors.New("cannot listen")
	}
	return nil
}

func TestCode(t *testing.T) {
	var audited, served []string
	p := Program{
		Name: "x-driver", DefaultDriverName: "x.csi.ceph.com", Version: "v9", Commit: "c1",
		Audit: func(_ context.Context, args []string, _, _ io.Writer) int {
			audited = args
			return 3
		},
		Flags: func(fs *flag.FlagSet) Flags {
			return fakeFlags{fail: fs.Bool("fail", false, "fail"), served: &served}
		},
	}
	for _, tc := range []struct {
		args          []string
		code          int
		audit, served []string
		stdout        string
		stderr        string
	}{
		{args: []string{"--node-id=n1"}, code: ExitOK, served: []string{"n1", "v9"}},
		{args: []string{"audit", "--delete"}, code: 3, audit: []string{"--delete"}},
		{args: []string{"--bad"}, code: ExitUsage},
		{args: []string{"--version"}, code: ExitOK, stdout: buildinfo.Read("x.csi.ceph.com", "v9", "c1").String()},
		{args: []string{"--node-id=n1", "--fail"}, code: ExitError, served: []string{"n1", "v9"}, stderr: "x-driver: cannot listen\n"},
	} {
		audited, served = nil, nil
		var stdout, stderr bytes.Buffer
		code := p.Code(context.Background(), append([]string{}, tc.args...), &stdout, &stderr)
		if code != tc.code || stdout.String() != tc.stdout || (tc.stderr != "" && stderr.String() != tc.stderr) {
			t.Errorf("%q: code %d, stdout %q, stderr %q; want %d, %q, %q", tc.args, code, stdout.String(), stderr.String(),
				tc.code, tc.stdout, tc.stderr)
		}
		if !reflect.DeepEqual(audited, tc.audit) || !reflect.DeepEqual(served, tc.served) {
			t.Errorf("%q: audit got %q, serve got %q; want %q, %q", tc.args, audited, served, tc.audit, tc.served)
		}
	}
}
