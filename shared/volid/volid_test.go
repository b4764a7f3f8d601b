package volid

import (
	"errors"
	"strings"
	"testing"
)

const (
	realID        = "0001-0024-4a9e463a-4853-4237-a5c5-9ae9d25bacda-0000000000000005-7b50e081-a053-11ec-b2dd-fa163ed7971b"
	realClusterID = "4a9e463a-4853-4237-a5c5-9ae9d25bacda"
	realUUID      = "7b50e081-a053-11ec-b2dd-fa163ed7971b"
)

// longClusterID is the longest cluster ID that fits.
var longClusterID = strings.Repeat("c", MaxClusterIDLen)

// encodeCase is one TestEncode case: want is the encoded ID, or wantErr a
// part of the error.
type encodeCase struct {
	name    string
	id      ID
	want    string
	wantErr string
}

// encodeCases are TestEncode's cases.
var encodeCases = []encodeCase{
	{
		name: "real example",
		id:   ID{ClusterID: realClusterID, LocationID: 5, UUID: realUUID},
		want: realID,
	},
	{
		name: "short cluster ID, large location",
		id:   ID{ClusterID: "c1", LocationID: 0x7fffffffffffffff, UUID: realUUID},
		want: "0001-0002-c1-7fffffffffffffff-" + realUUID,
	},
	{
		name: "uppercase UUID kept verbatim",
		id:   ID{ClusterID: "c", LocationID: 0, UUID: strings.ToUpper(realUUID)},
		want: "0001-0001-c-0000000000000000-" + strings.ToUpper(realUUID),
	},
	{
		name: "longest cluster ID",
		id:   ID{ClusterID: longClusterID, LocationID: 1, UUID: realUUID},
		want: "0001-0040-" + longClusterID + "-0000000000000001-" + realUUID,
	},
	{
		name:    "empty cluster ID",
		id:      ID{LocationID: 1, UUID: realUUID},
		wantErr: "cluster ID is empty",
	},
	{
		name:    "cluster ID too long",
		id:      ID{ClusterID: longClusterID + "x", LocationID: 1, UUID: realUUID},
		wantErr: "cluster ID is 65 bytes long",
	},
	{
		name:    "negative location",
		id:      ID{ClusterID: "c", LocationID: -1, UUID: realUUID},
		wantErr: "location ID -1 is negative",
	},
	{
		name:    "UUID without dashes",
		id:      ID{ClusterID: "c", UUID: strings.ReplaceAll(realUUID, "-", "")},
		wantErr: "not in 8-4-4-4-12 hex form",
	},
	{
		name:    "UUID in braces",
		id:      ID{ClusterID: "c", UUID: "{" + realUUID + "}"},
		wantErr: "not in 8-4-4-4-12 hex form",
	},
	{
		name:    "UUID with non-hex",
		id:      ID{ClusterID: "c", UUID: "7b50e081-a053-11ec-b2dd-fa163ed7971g"},
		wantErr: "not in 8-4-4-4-12 hex form",
	},
	{
		name:    "empty UUID",
		id:      ID{ClusterID: "c"},
		wantErr: "not in 8-4-4-4-12 hex form",
	},
}

func TestEncode(t *testing.T) {
	for _, tt := range encodeCases {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.id.Encode()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Encode() = %q, %v; want error containing %q", got, err, tt.wantErr)
				}

				return
			}

			if err != nil || got != tt.want {
				t.Fatalf("Encode() = %q, %v; want %q", got, err, tt.want)
			}

			if len(got) > MaxLen {
				t.Fatalf("Encode() returned %d bytes, more than %d", len(got), MaxLen)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want ID
	}{
		{
			name: "real example",
			in:   realID,
			want: ID{ClusterID: realClusterID, LocationID: 5, UUID: realUUID},
		},
		{
			name: "uppercase hex fields",
			in:   "0001-000A-abcdefghij-00000000000000FF-" + realUUID,
			want: ID{ClusterID: "abcdefghij", LocationID: 255, UUID: realUUID},
		},
		{
			name: "uppercase UUID kept verbatim",
			in:   "0001-0001-c-0000000000000000-" + strings.ToUpper(realUUID),
			want: ID{ClusterID: "c", UUID: strings.ToUpper(realUUID)},
		},
		{
			name: "cluster ID made of dashes",
			in:   "0001-0003-" + "---" + "-0000000000000001-" + realUUID,
			want: ID{ClusterID: "---", LocationID: 1, UUID: realUUID},
		},
		{
			name: "longest cluster ID",
			in:   "0001-0040-" + longClusterID + "-7fffffffffffffff-" + realUUID,
			want: ID{ClusterID: longClusterID, LocationID: 0x7fffffffffffffff, UUID: realUUID},
		},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(tt.in)
			if err != nil || got != tt.want {
				t.Fatalf("Decode(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	const tail = "-0000000000000005-" + realUUID

	tests := []struct {
		name       string
		in         string
		wantPart   string
		wantReason string
	}{
		{"empty", "", PartLength, "too short: 0 bytes"},
		{"version only", "0001", PartLength, "too short"},
		{"unsupported version", "0002-0001-c" + tail, PartVersion, "unsupported version 0002"},
		{"unsupported version, short", "0000", PartVersion, "unsupported version 0000"},
		{"version not hex", "00x1-0001-c" + tail, PartVersion, `"00x1" is not 4 hex digits`},
		{"version sign", "+001-0001-c" + tail, PartVersion, "not 4 hex digits"},
		{"no dash after version", "0001_0001-c" + tail, PartVersion, "want '-'"},
		{"length not hex", "0001-00g1-c" + tail, PartClusterIDLength, "not 4 hex digits"},
		{"no dash after length", "0001-00010c" + tail, PartClusterIDLength, "want '-'"},
		{"zero length", "0001-0000--" + tail, PartClusterIDLength, "cluster ID is empty"},
		{"length over maximum", "0001-0041-c" + tail, PartClusterIDLength, "65 exceeds the maximum of 64"},
		{"too long overall", realID + strings.Repeat("x", MaxLen-len(realID)+1), PartLength, "exceeds the maximum of 128"},
		{"too short for cluster ID", "0001-0024-4a9e463a" + tail, PartLength, "too short"},
		{"trailing data", realID + "-x", PartLength, "trailing data"},
		{"length smaller than cluster ID", "0001-0002-c1x" + tail[:len(tail)-1], PartClusterID, "want '-'"},
		{"location not hex", "0001-0001-c-000000000000000z-" + realUUID, PartLocationID, "not 16 hex digits"},
		{"location negative", "0001-0001-c-8000000000000000-" + realUUID, PartLocationID, "out of range"},
		{"no dash after location", "0001-0001-c-0000000000000005_" + realUUID, PartLocationID, "want '-'"},
		{"UUID not hex", "0001-0001-c-0000000000000005-7b50e081-a053-11ec-b2dd-fa163ed7971x", PartUUID, "8-4-4-4-12"},
		{"UUID dashes misplaced", "0001-0001-c-0000000000000005-7b50e081a-053-11ec-b2dd-fa163ed7971b", PartUUID, "8-4-4-4-12"},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(tt.in)

			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("Decode(%q) = %+v, %v; want a *DecodeError", tt.in, got, err)
			}

			if de.Part != tt.wantPart || !strings.Contains(de.Reason, tt.wantReason) {
				t.Fatalf("Decode(%q) error = %q; want part %q, reason containing %q",
					tt.in, err, tt.wantPart, tt.wantReason)
			}

			if got != (ID{}) {
				t.Fatalf("Decode(%q) returned %+v along with an error", tt.in, got)
			}
		})
	}
}

func TestDecodeErrorMessage(t *testing.T) {
	_, err := Decode("0002-0001-c-0000000000000005-" + realUUID)

	const want = "invalid volume ID: encoding version: unsupported version 0002"
	if err == nil || err.Error() != want {
		t.Fatalf("Decode() error = %v; want %q", err, want)
	}
}
