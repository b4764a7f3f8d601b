package csicaps

import (
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
)

func TestController(t *testing.T) {
	resp := Controller(csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME, csi.ControllerServiceCapability_RPC_GET_CAPACITY)
	got := resp.GetCapabilities()
	if len(got) != 2 || got[0].GetRpc().GetType() != csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME ||
		got[1].GetRpc().GetType() != csi.ControllerServiceCapability_RPC_GET_CAPACITY {
		t.Fatalf("Controller = %v", got)
	}
	if n := len(Controller().GetCapabilities()); n != 0 {
		t.Fatalf("Controller() has %d capabilities", n)
	}
}

func TestNode(t *testing.T) {
	got := Node(csi.NodeServiceCapability_RPC_STAGE_UNSTAGE_VOLUME, csi.NodeServiceCapability_RPC_GET_VOLUME_STATS).GetCapabilities()
	if len(got) != 2 || got[0].GetRpc().GetType() != csi.NodeServiceCapability_RPC_STAGE_UNSTAGE_VOLUME ||
		got[1].GetRpc().GetType() != csi.NodeServiceCapability_RPC_GET_VOLUME_STATS {
		t.Fatalf("Node = %v", got)
	}
}

func TestGroup(t *testing.T) {
	got := Group(csi.GroupControllerServiceCapability_RPC_CREATE_DELETE_GET_VOLUME_GROUP_SNAPSHOT).GetCapabilities()
	if len(got) != 1 || got[0].GetRpc().GetType() != csi.GroupControllerServiceCapability_RPC_CREATE_DELETE_GET_VOLUME_GROUP_SNAPSHOT {
		t.Fatalf("Group = %v", got)
	}
	if n := len(Group().GetCapabilities()); n != 0 {
		t.Fatalf("Group() has %d capabilities", n)
	}
}
