// Package csiabuse is the abusive-request half of the drivers' real-cluster
// abuse tests: the requests both controllers must refuse (or accept, as
// deleting what cannot exist), and the check that each one ends with the
// code the CSI spec prescribes, keeps the key out of its message and
// leaves the cluster exactly as it was. Each driver adds the requests only
// it has and the description of its cluster state. Used only by tests.
package csiabuse

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Abuse is one abusive request: the call and the codes it may end with
// (none: it must succeed, as deleting what cannot exist does).
type Abuse struct {
	Name  string
	Call  func(ctx context.Context) (proto.Message, error)
	Codes []codes.Code
}

// AuthCodes are what a request with credentials Ceph refuses may end with.
// Such a request waits for the connect timeout (librados retries the
// authentication), so the tables have just one.
var AuthCodes = []codes.Code{codes.PermissionDenied, codes.Unauthenticated, codes.Unavailable}

// Check sends each abuse with a context from ctx and fails t for every one
// that ends otherwise than it must, whose error message holds key, or
// after which state (the driver's description of the cluster) differs from
// before it.
func Check(t testing.TB, ctx func() context.Context, key string, state func() string, abuses []Abuse) {
	t.Helper()
	if key == "" {
		t.Fatal("csiabuse: no key to look for in the error messages")
	}
	for _, a := range abuses {
		before := state()
		resp, err := a.Call(ctx())
		if msg := Verdict(a, resp, err, key); msg != "" {
			t.Error(msg)
		}
		if after := state(); after != before {
			t.Errorf("%s changed the cluster:\nbefore: %s\nafter:  %s", a.Name, before, after)
		}
	}
}

// Verdict returns what is wrong with a's outcome (resp, err), or "" when
// nothing is: a wrong code, a success where a refusal was due, or key in
// the error message.
func Verdict(a Abuse, resp proto.Message, err error, key string) string {
	st, _ := status.FromError(err)
	switch {
	case len(a.Codes) == 0 && err != nil:
		return fmt.Sprintf("%s: %v, want success", a.Name, err)
	case err == nil && len(a.Codes) > 0:
		return fmt.Sprintf("%s succeeded (%v), want one of %v", a.Name, resp, a.Codes)
	case len(a.Codes) > 0 && !slices.Contains(a.Codes, st.Code()):
		return fmt.Sprintf("%s: %v (%v), want one of %v", a.Name, st.Code(), err, a.Codes)
	case strings.Contains(st.Message(), key):
		return fmt.Sprintf("%s: the error message holds the key", a.Name)
	}
	return ""
}
