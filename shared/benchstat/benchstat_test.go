package benchstat

import "testing"

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{0.9}, 0.9},
		{[]float64{0.5, 1.1, 0.7}, 0.7},
		{[]float64{0.4, 0.8, 0.6, 1.0}, 0.7},
	} {
		if got := Median(tc.in); got != tc.want {
			t.Errorf("Median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestListKeepsOrder(t *testing.T) {
	if got := List([]float64{1.25, 0.5}); got != "1.25, 0.50" {
		t.Errorf("List = %q", got)
	}
}
