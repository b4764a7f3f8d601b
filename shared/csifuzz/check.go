package csifuzz

import (
	"runtime/debug"
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// allowed are the codes a driver may answer an abusive request with, per
// RPC: the codes the CSI specification lists for the RPC's errors, plus
// InvalidArgument (a malformed request), Aborted where the drivers take
// per-object locks, and Unavailable where a transient condition ("not ready
// yet") is reported. Unknown and Internal are never allowed: the fakes
// inject no backend failure, so any Internal is a driver bug.
var allowed = map[string][]codes.Code{
	"CreateVolume": {codes.InvalidArgument, codes.NotFound, codes.AlreadyExists, codes.OutOfRange,
		codes.ResourceExhausted, codes.Aborted, codes.FailedPrecondition, codes.Unavailable},
	"DeleteVolume":   {codes.InvalidArgument, codes.NotFound, codes.FailedPrecondition, codes.Aborted},
	"CreateSnapshot": {codes.InvalidArgument, codes.NotFound, codes.AlreadyExists, codes.ResourceExhausted, codes.Aborted, codes.FailedPrecondition, codes.Unavailable},
	"DeleteSnapshot": {codes.InvalidArgument, codes.NotFound, codes.FailedPrecondition, codes.Aborted},
	"ControllerExpandVolume": {codes.InvalidArgument, codes.NotFound, codes.OutOfRange, codes.ResourceExhausted,
		codes.FailedPrecondition, codes.Aborted},
	"ValidateVolumeCapabilities": {codes.InvalidArgument, codes.NotFound},
	"ListSnapshots":              {codes.InvalidArgument, codes.Aborted},
	"ListVolumes":                {codes.InvalidArgument, codes.Aborted},
	"ControllerListVolumeHealth": {codes.InvalidArgument, codes.Aborted},
	"ControllerGetVolume":        {codes.InvalidArgument, codes.NotFound},
	"ControllerGetVolumeHealth":  {codes.InvalidArgument, codes.NotFound},
	"GetSnapshot":                {codes.InvalidArgument, codes.NotFound},
	"GetCapacity":                {codes.InvalidArgument},
	"NodeStageVolume":            {codes.InvalidArgument, codes.NotFound, codes.AlreadyExists, codes.FailedPrecondition, codes.Aborted},
	"NodeUnstageVolume":          {codes.InvalidArgument, codes.NotFound, codes.FailedPrecondition, codes.Aborted},
	"NodePublishVolume":          {codes.InvalidArgument, codes.NotFound, codes.AlreadyExists, codes.FailedPrecondition, codes.Aborted},
	"NodeUnpublishVolume":        {codes.InvalidArgument, codes.NotFound, codes.Aborted},
	"NodeGetVolumeStats":         {codes.InvalidArgument, codes.NotFound, codes.FailedPrecondition},
	"NodeExpandVolume":           {codes.InvalidArgument, codes.NotFound, codes.OutOfRange, codes.FailedPrecondition, codes.Aborted},
	"NodeGetVolumeHealth":        {codes.InvalidArgument, codes.NotFound},
}

// Allowed returns the codes Check accepts for method (an RPC name such as
// "CreateVolume").
func Allowed(method string) []codes.Code { return slices.Clone(allowed[method]) }

// Call runs one handler call; a panic fails the test with its stack and the
// input instead of crashing the fuzzer without context.
func Call[R proto.Message](t testing.TB, in Input, fn func() (R, error)) (resp R, err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("handler panicked: %v\n%s\ninput: %+v", r, debug.Stack(), in)
		}
	}()
	return fn()
}

// Check fails the test unless the outcome of method is acceptable: a
// response that gRPC can marshal, or a status error with a non-empty
// message and a code in Allowed(method) or extra (e.g. Unimplemented for an
// RPC the driver does not serve).
func Check(t testing.TB, method string, in Input, resp proto.Message, err error, extra ...codes.Code) {
	t.Helper()
	if err == nil {
		if _, merr := proto.Marshal(resp); merr != nil {
			t.Fatalf("%s: the response cannot be sent: %v\ninput: %+v", method, merr, in)
		}
		return
	}
	st, ok := status.FromError(err)
	switch {
	case !ok:
		t.Fatalf("%s: error %v (%T) is not a gRPC status (it would reach the CO as Unknown)\ninput: %+v", method, err, err, in)
	case st.Message() == "":
		t.Fatalf("%s: %v without a message\ninput: %+v", method, st.Code(), in)
	case !slices.Contains(allowed[method], st.Code()) && !slices.Contains(extra, st.Code()):
		t.Fatalf("%s: code %v is not one the CSI spec allows here (%v): %s\ninput: %+v", method, st.Code(),
			append(Allowed(method), extra...), st.Message(), in)
	}
}

// Unchanged fails the test when a rejected request changed state: before and
// after are descriptions of the same state (e.g. Tree, or a fake's
// inventory).
func Unchanged(t testing.TB, method string, in Input, err error, before, after string) {
	t.Helper()
	if before != after {
		t.Fatalf("%s was rejected (%v) but changed the state:\nbefore:\n%s\nafter:\n%s\ninput: %+v",
			method, err, before, after, in)
	}
}
