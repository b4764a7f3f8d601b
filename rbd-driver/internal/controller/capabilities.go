package controller

import (
	"fmt"

	"github.com/container-storage-interface/spec/lib/go/csi"
)

// fsTypes are the filesystems the node formats volumes with.
var fsTypes = map[string]bool{"": true, "ext4": true, "ext3": true, "xfs": true}

// capabilityProblem returns why one capability cannot be served, or "".
// Read-only-many needs a content source (an empty shared volume is
// useless); multi-node writers need raw block (no cluster filesystem).
func capabilityProblem(c *csi.VolumeCapability, hasSource bool) string {
	block, mount := c.GetBlock() != nil, c.GetMount() != nil
	switch {
	case c == nil:
		return "capability is empty"
	case !block && !mount:
		return "access_type must be block or mount"
	case c.GetAccessMode() == nil:
		return "access_mode is missing"
	case mount && !fsTypes[c.GetMount().GetFsType()]:
		return fmt.Sprintf("fs_type %q is not supported (want ext4, ext3 or xfs)", c.GetMount().GetFsType())
	}
	switch mode := c.GetAccessMode().GetMode(); mode {
	case csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER,
		csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY,
		csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER,
		csi.VolumeCapability_AccessMode_SINGLE_NODE_MULTI_WRITER:
		return ""
	case csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER:
		if !block {
			return "MULTI_NODE_MULTI_WRITER needs access_type block: RBD has no shared filesystem"
		}
		return ""
	case csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY:
		if !hasSource {
			return "MULTI_NODE_READER_ONLY needs a volume_content_source: an empty read-only volume is useless"
		}
		return ""
	default:
		return fmt.Sprintf("access mode %s is not supported", mode)
	}
}

// checkCapabilities validates the capabilities of a request; field names
// the request field.
func checkCapabilities(field string, caps []*csi.VolumeCapability, hasSource bool) error {
	if len(caps) == 0 {
		return invalidArg(field, "at least one capability is required")
	}
	for i, c := range caps {
		if p := capabilityProblem(c, hasSource); p != "" {
			return invalidArg(fmt.Sprintf("%s[%d]", field, i), "%s", p)
		}
	}
	return nil
}

// isBlock reports whether any capability asks for a raw block device.
func isBlock(caps []*csi.VolumeCapability) bool {
	for _, c := range caps {
		if c.GetBlock() != nil {
			return true
		}
	}
	return false
}
