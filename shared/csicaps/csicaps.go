// Package csicaps builds the capability lists the Controller and Node
// services return from lists of RPC types.
package csicaps

import "github.com/container-storage-interface/spec/lib/go/csi"

// Controller returns a ControllerGetCapabilities answer advertising types,
// in order.
func Controller(types ...csi.ControllerServiceCapability_RPC_Type) *csi.ControllerGetCapabilitiesResponse {
	caps := make([]*csi.ControllerServiceCapability, 0, len(types))
	for _, t := range types {
		caps = append(caps, &csi.ControllerServiceCapability{
			Type: &csi.ControllerServiceCapability_Rpc{Rpc: &csi.ControllerServiceCapability_RPC{Type: t}},
		})
	}
	return &csi.ControllerGetCapabilitiesResponse{Capabilities: caps}
}

// Node returns a NodeGetCapabilities answer advertising types, in order.
func Node(types ...csi.NodeServiceCapability_RPC_Type) *csi.NodeGetCapabilitiesResponse {
	caps := make([]*csi.NodeServiceCapability, 0, len(types))
	for _, t := range types {
		caps = append(caps, &csi.NodeServiceCapability{
			Type: &csi.NodeServiceCapability_Rpc{Rpc: &csi.NodeServiceCapability_RPC{Type: t}},
		})
	}
	return &csi.NodeGetCapabilitiesResponse{Capabilities: caps}
}

// Group returns a GroupControllerGetCapabilities answer advertising types,
// in order.
func Group(types ...csi.GroupControllerServiceCapability_RPC_Type) *csi.GroupControllerGetCapabilitiesResponse {
	caps := make([]*csi.GroupControllerServiceCapability, 0, len(types))
	for _, t := range types {
		caps = append(caps, &csi.GroupControllerServiceCapability{
			Type: &csi.GroupControllerServiceCapability_Rpc{Rpc: &csi.GroupControllerServiceCapability_RPC{Type: t}},
		})
	}
	return &csi.GroupControllerGetCapabilitiesResponse{Capabilities: caps}
}
