package volid

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func FuzzDecode(f *testing.F) {
	seeds := []string{
		realID,
		strings.ToUpper(realID),
		"",
		"0001",
		"0002-0001-c-0000000000000005-" + realUUID,
		"0001-0000--0000000000000005-" + realUUID,
		"0001-0003-" + "---" + "-0000000000000001-" + realUUID,
		"0001-0040-" + longClusterID + "-7fffffffffffffff-" + realUUID,
		"0001-0001-c-8000000000000000-" + realUUID,
		"0001-ffff-c-0000000000000005-" + realUUID,
		realID + "-x",
	}
	for _, s := range seeds {
		f.Add(s)
	}

	f.Fuzz(func(t *testing.T, s string) {
		id, err := Decode(s)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("Decode(%q) error %v is not a *DecodeError", s, err)
			}

			return
		}

		enc, err := id.Encode()
		if err != nil {
			t.Fatalf("Decode(%q) = %+v, which does not encode: %v", s, id, err)
		}

		// Only the case of hex digits in the version, length and location
		// fields may differ.
		if len(enc) != len(s) || !strings.EqualFold(enc, s) {
			t.Fatalf("Decode(%q) = %+v encodes to %q", s, id, enc)
		}

		again, err := Decode(enc)
		if err != nil || again != id {
			t.Fatalf("Decode(%q) = %+v, %v; want %+v", enc, again, err, id)
		}
	})
}

func FuzzRoundTrip(f *testing.F) {
	f.Add(realClusterID, int64(5), []byte{0x7b, 0x50, 0xe0, 0x81}, false)
	f.Add("c", int64(0), []byte{}, true)
	f.Add(longClusterID, int64(1<<62), []byte("0123456789abcdef"), false)
	f.Add("x-y-z", int64(-1), []byte("\xff\xff"), true)
	f.Add("", int64(1), []byte{1}, false)
	f.Add(longClusterID+"x", int64(1), []byte{1}, false)

	f.Fuzz(func(t *testing.T, clusterID string, location int64, raw []byte, upper bool) {
		id := ID{ClusterID: clusterID, LocationID: location, UUID: formatUUID(raw, upper)}

		enc, err := id.Encode()
		if clusterID == "" || len(clusterID) > MaxClusterIDLen || location < 0 {
			if err == nil {
				t.Fatalf("Encode(%+v) = %q; want an error", id, enc)
			}

			return
		}

		if err != nil {
			t.Fatalf("Encode(%+v) failed: %v", id, err)
		}

		if len(enc) > MaxLen {
			t.Fatalf("Encode(%+v) = %d bytes, more than %d", id, len(enc), MaxLen)
		}

		got, err := Decode(enc)
		if err != nil || got != id {
			t.Fatalf("Decode(%q) = %+v, %v; want %+v", enc, got, err, id)
		}
	})
}

// formatUUID formats the first 16 bytes of raw, zero-padded, as a UUID.
func formatUUID(raw []byte, upper bool) string {
	var b [16]byte
	copy(b[:], raw)

	format := "%x-%x-%x-%x-%x"
	if upper {
		format = "%X-%X-%X-%X-%X"
	}

	return fmt.Sprintf(format, b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
