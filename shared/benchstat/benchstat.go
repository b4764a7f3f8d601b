// Package benchstat summarises the rounds of the drivers' benchmarks: a
// ratio measured on a noisy machine is reported as the median of several
// rounds, next to the rounds' own values.
package benchstat

import (
	"fmt"
	"slices"
	"strings"
)

// Median returns the median of xs (the mean of the middle two for an even
// count; 0 for none).
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// List renders xs with two decimals, comma separated, in their order.
func List(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.2f", x)
	}
	return strings.Join(parts, ", ")
}
