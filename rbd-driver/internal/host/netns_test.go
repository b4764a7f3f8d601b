package host

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/seed-6a310834/ceph-csi/shared/execx"
)

// TestCommandsRunInTheNetNamespace: with a network namespace the test
// creates, the commands the attachers wrap really run inside it (they see
// only its loopback), through the real executor.
func TestCommandsRunInTheNetNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip command")
	}
	name := "csi-test-" + uuid.NewString()[:8]
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	out, err := run(context.Background(), execx.OS{}, "/var/run/netns/"+name, "ip", []string{"-o", "link"})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], " lo: ") {
		t.Fatalf("links seen inside the namespace: %q, want only lo", lines)
	}
	if _, err := run(context.Background(), execx.OS{}, "/var/run/netns/no-such-"+name, "true", nil); err == nil {
		t.Fatal("a missing network namespace was not an error")
	}
}
