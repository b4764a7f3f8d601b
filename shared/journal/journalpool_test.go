package journal

import "testing"

func TestJournalPoolEncoding(t *testing.T) {
	for _, tc := range []struct {
		id   int64
		want string
	}{{0, "0000000000000000"}, {1, "0000000000000001"}, {42, "000000000000002a"}, {1<<63 - 1, "7fffffffffffffff"}} {
		got := EncodePoolID(tc.id)
		if got != tc.want {
			t.Errorf("EncodePoolID(%d) = %q; want %q", tc.id, got, tc.want)
		}
		if id, name := ParseJournalPool(got); id != tc.id || name != "" {
			t.Errorf("ParseJournalPool(%q) = %d, %q; want %d", got, id, name, tc.id)
		}
	}
	// Older records of ours hold the pool name.
	for _, v := range []string{"rbd", "journal-pool", "000000000000002A0", "000000000000002g", "ffffffffffffffff"} {
		if id, name := ParseJournalPool(v); id != SamePool || name != v {
			t.Errorf("ParseJournalPool(%q) = %d, %q; want the name", v, id, name)
		}
	}
}
