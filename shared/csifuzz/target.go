package csifuzz

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
)

// row is one row of a target's table: the CSI method and how an Input
// becomes a call of it on the case's server S.
type row[S any] struct {
	Method string
	Call   func(ctx context.Context, s S, in Input) (proto.Message, error)
}

// Unimplemented allows Unimplemented for the RPCs methods, which a driver
// does not serve: a value for the targets' Extra.
func Unimplemented(methods ...string) map[string][]codes.Code {
	out := make(map[string][]codes.Code, len(methods))
	for _, m := range methods {
		out[m] = []codes.Code{codes.Unimplemented}
	}
	return out
}

// pick returns the row that in selects: Input.RPC modulo the table's size.
func pick[S any](table []row[S], in Input) row[S] { return table[int(in.RPC)%len(table)] }

// outcome is how one case is judged: the codes an RPC may answer beyond
// Allowed, the description of the state a rejected request must leave as
// it was, and the check of a successful response (nil: none).
type outcome struct {
	extra     map[string][]codes.Code
	inventory func() string
	accept    func(t testing.TB, method string, in Input, resp proto.Message)
}

// run calls the row that in selects on s and checks the outcome: no panic,
// a response gRPC can send or a status with a code the RPC allows, an
// unchanged state after a rejection, and an acceptable response after a
// success.
func run[S any](t testing.TB, table []row[S], s S, o outcome, in Input) {
	t.Helper()
	rpc := pick(table, in)
	before := o.inventory()
	resp, err := Call(t, in, func() (proto.Message, error) { return rpc.Call(context.Background(), s, in) })
	Check(t, rpc.Method, in, resp, err, o.extra[rpc.Method]...)
	if err != nil {
		Unchanged(t, rpc.Method, in, err, before, o.inventory())
		return
	}
	if o.accept != nil {
		o.accept(t, rpc.Method, in, resp)
	}
}
