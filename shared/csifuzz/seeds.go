package csifuzz

import (
	"math"
	"strings"
)

const (
	gib = int64(1) << 30
	mib = int64(1) << 20
)

// Valid is the baseline of the seeds: an ordinary request (an existing
// volume's ID, valid secrets, one SINGLE_NODE_WRITER ext4 mount capability,
// the base parameters, 1 GiB, paths existing and new).
var Valid = Input{Name: "pvc-fuzz", IDMode: 1, Caps: 1, Mode: 1, Flags: FlagBaseParams,
	Required: gib, Paths: 0x21}

// variants each change one thing of Valid, covering the abuse list: names of
// 0, 1 and 1000 bytes and odd UTF-8; malformed, foreign and unknown IDs;
// huge, negative and contradictory sizes; unknown and bad parameters;
// missing and wrong secrets; contradictory capabilities; content sources;
// hostile paths.
var variants = []func(*Input){
	func(in *Input) {},
	// Names.
	func(in *Input) { in.Name = "" },
	func(in *Input) { in.Name = "a" },
	func(in *Input) { in.Name = strings.Repeat("n", 1000) },
	func(in *Input) { in.Name = "pvc-\u202e\u0301\ufeff-名前-\U0001F600" },
	func(in *Input) { in.Name = "nul\x00name\n\t" },
	func(in *Input) { in.Name = "\xff\xfe invalid bytes" },
	func(in *Input) { in.Name = "../../../etc/passwd" },
	func(in *Input) { in.Name = "a,b=c;d" },
	// IDs.
	func(in *Input) { in.IDMode, in.ID = 0, "" },
	func(in *Input) { in.IDMode, in.ID = 0, "not-a-volume-id" },
	func(in *Input) { in.IDMode, in.ID = 0, strings.Repeat("0001-", 200) },
	func(in *Input) {
		in.IDMode, in.ID = 0, "0001-0009-cluster-1-0000000000000001-00000000-0000-0000-0000-000000000000"
	},
	func(in *Input) { in.IDMode = 2 },
	func(in *Input) { in.IDMode, in.ID = 3, "-x" },
	func(in *Input) { in.IDMode, in.ID = 4, "other-cluster" },
	func(in *Input) { in.IDMode, in.ID = 4, strings.Repeat("c", 200) },
	func(in *Input) { in.IDMode, in.ID = 5, "unknown" },
	func(in *Input) { in.IDMode, in.ID = 6, "" },
	func(in *Input) { in.IDMode, in.ID = 7, "Z" },
	func(in *Input) { in.IDMode, in.ID = 13, "" },
	func(in *Input) { in.IDMode, in.ID = 15, "\x00" },
	// Sizes.
	func(in *Input) { in.Required = -1 },
	func(in *Input) { in.Required, in.Limit = 0, -1 },
	func(in *Input) { in.Required = math.MinInt64 },
	func(in *Input) { in.Required = math.MaxInt64 },
	func(in *Input) { in.Required, in.Limit = math.MaxInt64-1, math.MaxInt64 },
	func(in *Input) { in.Required, in.Limit = 0, math.MaxInt64 },
	func(in *Input) { in.Required, in.Limit = 2*gib, gib },
	func(in *Input) { in.Required, in.Limit = 1, 1 },
	func(in *Input) { in.Required, in.Limit = 0, mib-1 },
	func(in *Input) { in.Required, in.Limit = mib+1, mib+2 },
	func(in *Input) { in.Flags |= FlagNoRange },
	// Parameters.
	func(in *Input) { in.Flags &^= FlagBaseParams },
	func(in *Input) { in.Params = "unknownParameter=1" },
	func(in *Input) { in.Params = "clusterID=" },
	func(in *Input) { in.Params = "clusterID=no-such-cluster" },
	func(in *Input) { in.Params = "pool=no-such-pool" },
	func(in *Input) { in.Params = "pool=a/b@c d" },
	func(in *Input) { in.Params = "fsName=no-such-fs" },
	func(in *Input) { in.Params = "imageFeatures=journaling" },
	func(in *Input) { in.Params = "encrypted=true" },
	func(in *Input) { in.Params = "mounter=evil" },
	func(in *Input) { in.Params = "volumeNamePrefix=../x" },
	func(in *Input) { in.Params = "backingSnapshot=maybe" },
	func(in *Input) { in.Params = "csi.storage.k8s.io/pvc/name=x;csi.storage.k8s.io/fstype=btrfs" },
	func(in *Input) { in.Params = "=;==;" + strings.Repeat("k", 300) + "=v" },
	func(in *Input) {
		in.Params = "imageName=stolen;subvolumeName=stolen;subvolumePath=/"
		in.Flags |= FlagVolumeContext
	},
	// Secrets.
	func(in *Input) { in.SecretMode = 1 },
	func(in *Input) { in.SecretMode = 2 },
	func(in *Input) { in.SecretMode = 3 },
	func(in *Input) { in.SecretMode, in.ID = 4, "not base64 !" },
	func(in *Input) { in.SecretMode = 5 },
	func(in *Input) { in.SecretMode = 6 },
	func(in *Input) { in.SecretMode = 7 },
	func(in *Input) { in.SecretMode = 8 },
	// Capabilities.
	func(in *Input) { in.Caps = 0 },
	func(in *Input) { in.Caps = 2 },
	func(in *Input) { in.Caps, in.Name = 3, "btrfs" },
	func(in *Input) { in.Caps = 4 },
	func(in *Input) { in.Caps = 5 },
	func(in *Input) { in.Caps = 6 },
	func(in *Input) { in.Caps = 7 },
	func(in *Input) { in.Caps = 9 },
	func(in *Input) { in.Mode = 0 },
	func(in *Input) { in.Mode = 2 },
	func(in *Input) { in.Mode = 3 },
	func(in *Input) { in.Mode = 5 },
	func(in *Input) { in.Caps, in.Mode = 2, 5 },
	func(in *Input) { in.Mode = 8 },
	func(in *Input) { in.Mode = 9 },
	// Content sources.
	func(in *Input) { in.Flags |= 1 << flagSourceShift; in.IDMode = 2 },
	func(in *Input) { in.Flags |= 1 << flagSourceShift; in.IDMode = 1 },
	func(in *Input) { in.Flags |= 2 << flagSourceShift },
	func(in *Input) { in.Flags |= 2 << flagSourceShift; in.IDMode, in.ID = 0, "bogus" },
	func(in *Input) { in.Flags |= 3 << flagSourceShift },
	func(in *Input) { in.Flags |= 1<<flagSourceShift | FlagReadonly; in.IDMode, in.Mode = 2, 3 },
	// Listing filters.
	func(in *Input) { in.Flags |= FlagFilterSnapshot; in.IDMode = 2 },
	func(in *Input) { in.Flags |= FlagFilterSource | FlagFilterSnapshot; in.IDMode = 7 },
	// Paths.
	func(in *Input) { in.Paths = 0x11 },
	func(in *Input) { in.Paths = 0x00 },
	func(in *Input) { in.Paths = 0x22 },
	func(in *Input) { in.Paths = 0x33 },
	func(in *Input) { in.Paths = 0x44 },
	func(in *Input) { in.Paths = 0x15 },
	func(in *Input) { in.Paths = 0x16 },
	func(in *Input) { in.Paths = 0x77 },
	func(in *Input) { in.Paths, in.Name = 0x12, ".." },
	func(in *Input) { in.Flags |= FlagReadonly },
}

// Seeds returns the seed corpus for a target serving rpcs RPCs: every
// variant of Valid for every RPC.
func Seeds(rpcs uint8) []Input {
	out := make([]Input, 0, int(rpcs)*len(variants))
	for rpc := range rpcs {
		for _, v := range variants {
			in := Valid
			in.RPC = rpc
			v(&in)
			out = append(out, in)
		}
	}
	return out
}
