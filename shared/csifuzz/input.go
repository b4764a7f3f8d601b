// Package csifuzz is the shared vocabulary of the drivers' abuse fuzz
// targets: it turns the raw values a Go fuzz target receives into abusive
// CSI requests (malformed and foreign IDs, names of 0, 1 or 1000 bytes, odd
// UTF-8, huge or negative sizes, unknown parameters, missing or wrong
// secrets, contradictory capabilities, hostile paths) and checks what a
// driver answers: no panic, and an error only with a status code the CSI
// specification allows for the RPC, never Unknown or Internal.
//
// FuzzController and FuzzNode hold the targets' bodies: the tables of the
// CSI Controller and Node RPCs (Input.RPC picks a row), the requests built
// with the Input methods, and the checks, including that a rejected request
// leaves the state of the fakes as it was. Each driver's target supplies
// only its world (ControllerTarget, NodeTarget): a server over fresh fakes,
// the IDs of the objects in them, an inventory of their state, its secrets
// and parameters, and the codes it adds (e.g. Unimplemented).
package csifuzz

import (
	"strings"
	"testing"
)

// Input is one fuzz case. Every field is a raw fuzz value; the methods give
// them a meaning.
type Input struct {
	// RPC selects the handler (the target's own numbering).
	RPC uint8
	// IDMode says how ObjectID builds an ID (see ObjectID).
	IDMode uint8
	// SecretMode selects the secrets (see Secrets).
	SecretMode uint8
	// Caps selects the shape of the capabilities and Mode their access
	// mode (see Capabilities).
	Caps uint8
	Mode uint8
	// Flags are the Flag* bits.
	Flags uint8
	// Paths selects the paths of node requests: the low nibble the first
	// (staging), the high nibble the second (target) (see Path).
	Paths uint8
	// Name is the request name; it also feeds fuzzed secret IDs, file
	// system types and path elements.
	Name string
	// ID is raw ID material (see ObjectID).
	ID string
	// Params are "key=value" pairs separated by ';', laid over the base
	// parameters (see Parameters).
	Params string
	// Required and Limit are the capacity range.
	Required int64
	Limit    int64
}

// Flag bits of Input.Flags.
const (
	// FlagBaseParams starts Parameters from the valid base parameters.
	FlagBaseParams uint8 = 1 << 0
	// FlagNoRange leaves the capacity range out.
	FlagNoRange uint8 = 1 << 1
	// Bits 2 and 3 choose the content source (see Source).
	flagSourceShift = 2
	// FlagReadonly sets the readonly flag of a publish request.
	FlagReadonly uint8 = 1 << 4
	// FlagFilterSnapshot and FlagFilterSource set the snapshot_id and
	// source_volume_id filters of ListSnapshots.
	FlagFilterSnapshot uint8 = 1 << 5
	FlagFilterSource   uint8 = 1 << 6
	// FlagVolumeContext passes the parameters as the volume context too.
	FlagVolumeContext uint8 = 1 << 7
)

// Has reports whether every bit of f is set.
func (in Input) Has(f uint8) bool { return in.Flags&f == f }

// clean makes every string valid UTF-8: a request with invalid UTF-8 cannot
// reach a driver (gRPC refuses to decode it), while odd but valid UTF-8
// (control characters, NUL, right-to-left marks, combining characters)
// can.
func (in Input) clean() Input {
	for _, s := range []*string{&in.Name, &in.ID, &in.Params} {
		*s = strings.ToValidUTF8(*s, "\uFFFD")
	}
	return in
}

// Fuzz adds seeds to f's corpus and fuzzes body with inputs made valid
// UTF-8.
func Fuzz(f *testing.F, seeds []Input, body func(t *testing.T, in Input)) {
	for _, s := range seeds {
		f.Add(s.RPC, s.IDMode, s.SecretMode, s.Caps, s.Mode, s.Flags, s.Paths, s.Name, s.ID, s.Params, s.Required, s.Limit)
	}
	f.Fuzz(func(t *testing.T, rpc, idMode, secrets, caps, mode, flags, paths uint8,
		name, id, params string, required, limit int64) {
		in := Input{RPC: rpc, IDMode: idMode, SecretMode: secrets, Caps: caps, Mode: mode, Flags: flags, Paths: paths,
			Name: name, ID: id, Params: params, Required: required, Limit: limit}
		body(t, in.clean())
	})
}
