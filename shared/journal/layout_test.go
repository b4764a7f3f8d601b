package journal

import "testing"

func TestDirValueRoundTrip(t *testing.T) {
	const id = "7b50e081-a053-11ec-b2dd-fa163ed7971b"
	for _, pool := range []int64{SamePool, 0, 5, 1 << 40} {
		v := encodeDirValue(pool, id)
		gotPool, gotID, err := decodeDirValue(v)
		if err != nil || gotPool != pool || gotID != id {
			t.Errorf("decode(encode(%d)) = %d, %q, %v", pool, gotPool, gotID, err)
		}
	}
	for _, bad := range []string{"", "x", "0005/" + id, "000000000000000g/" + id, "0000000000000005/nope", id + "x"} {
		if _, _, err := decodeDirValue(bad); err == nil {
			t.Errorf("decodeDirValue(%q) accepted", bad)
		}
	}
}
