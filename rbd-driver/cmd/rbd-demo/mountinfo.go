package main

import "strings"

// findMount returns "SOURCE (FSTYPE)" of the last mount at path in the
// given mountinfo text, or "?". Fields: ID PARENT MAJ:MIN ROOT MOUNTPOINT
// OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS.
func findMount(mountinfo, path string) string {
	found := "?"
	for _, line := range strings.Split(mountinfo, "\n") {
		before, after, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(before), strings.Fields(after)
		if ok && len(f) > 4 && len(g) > 1 && f[4] == path {
			found = g[1] + " (" + g[0] + ")"
		}
	}
	return found
}
