package drivermain

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"testing"

	"github.com/seed-6a310834/ceph-csi/shared/cliflags"
)

func TestCode(t *testing.T) {
	var audited, ran []string
	p := Program{
		Name: "x-driver",
		Audit: func(_ context.Context, args []string, _, _ io.Writer) int {
			audited = args
			return 3
		},
		Run: func(_ context.Context, args []string, _, _ io.Writer) error {
			ran = args
			switch {
			case len(args) == 0:
				return nil
			case args[0] == "--bad":
				return fmt.Errorf("%w: flag provided but not defined", cliflags.ErrUsage)
			}
			return errors.New("cannot listen")
		},
	}
	for _, tc := range []struct {
		args       []string
		code       int
		audit, run []string
		stderr     string
	}{
		{args: nil, code: ExitOK, run: []string{}},
		{args: []string{"audit", "--delete"}, code: 3, audit: []string{"--delete"}},
		{args: []string{"--bad"}, code: ExitUsage, run: []string{"--bad"}},
		{args: []string{"--endpoint=x"}, code: ExitError, run: []string{"--endpoint=x"}, stderr: "x-driver: cannot listen\n"},
	} {
		audited, ran = nil, nil
		var stderr bytes.Buffer
		code := p.Code(context.Background(), append([]string{}, tc.args...), io.Discard, &stderr)
		if code != tc.code || stderr.String() != tc.stderr {
			t.Errorf("%q: code %d, stderr %q; want %d, %q", tc.args, code, stderr.String(), tc.code, tc.stderr)
		}
		if !reflect.DeepEqual(audited, tc.audit) || !reflect.DeepEqual(ran, tc.run) {
			t.Errorf("%q: audit got %q, run got %q; want %q, %q", tc.args, audited, ran, tc.audit, tc.run)
		}
	}
}
