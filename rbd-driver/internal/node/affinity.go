package node

import "strings"

// withKRBDOptions adds krbd-only options to a ceph-csi style option string.
func withKRBDOptions(opts, krbd string) string {
	switch {
	case krbd == "":
		return opts
	case strings.TrimSpace(opts) == "":
		return "krbd:" + krbd
	}
	return opts + ";krbd:" + krbd
}
