package audittest

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/seed-6a310834/ceph-csi/shared/audit"
)

func TestWriteSecretsAndLines(t *testing.T) {
	dir := WriteSecrets(t, map[string]string{"userID": "admin"})
	if data, err := os.ReadFile(filepath.Join(dir, "userID")); err != nil || string(data) != "admin\n" {
		t.Fatalf("userID file: %q, %v", data, err)
	}
	got := Lines([]*audit.Finding{{Kind: audit.Unrecorded, Name: "p/b"}, {Kind: audit.Unrecorded, Name: "p/a"}})
	if want := []string{"unrecorded p/a", "unrecorded p/b"}; !slices.Equal(got, want) {
		t.Fatalf("Lines() = %q, want %q", got, want)
	}
}

// fakeAudit is a driver's audit over a set of orphans: busy is kept until
// freed, the others go with --grace=0s.
type fakeAudit struct {
	orphans []string
	busy    string
	freed   bool
	args    [][]string
}

func (f *fakeAudit) main(_ context.Context, args []string, stdout, _ io.Writer) int {
	f.args = append(f.args, args)
	del, grace0 := slices.Contains(args, "--delete"), slices.Contains(args, "--grace=0s")
	if len(f.orphans) == 0 {
		return audit.ExitClean
	}
	switch {
	case !del:
		fmt.Fprintln(stdout, "orphans found; run with --delete")
	case !grace0:
		fmt.Fprintln(stdout, "kept: too young")
	default:
		f.orphans = slices.DeleteFunc(f.orphans, func(o string) bool { return o != f.busy || f.freed })
		if len(f.orphans) == 0 {
			return audit.ExitClean
		}
		fmt.Fprintln(stdout, "kept: in use: watchers")
	}
	return audit.ExitOrphans
}

func TestScenarioOnAConformingAudit(t *testing.T) {
	f := &fakeAudit{orphans: []string{"unrecorded p/b", "incomplete d[x]"}, busy: "unrecorded p/b"}
	cmd := Command{T: t, Name: "fake audit", Main: f.main, Args: []string{"--pool", "p"}, Key: "AQsecret", Ctx: t.Context}
	Scenario{Command: cmd, Scan: func() []string { return slices.Sorted(slices.Values(f.orphans)) },
		Orphans: []string{"incomplete d[x]", "unrecorded p/b"}, Busy: "unrecorded p/b", Kept: "kept: in use: watchers",
		Freed: "once free", Release: func() { f.freed = true }}.Check(t)
	if len(f.args) != 4 || !slices.Equal(f.args[3], []string{"--pool", "p", "--delete", "--grace=0s"}) {
		t.Fatalf("runs: %q, want 4 with the command's arguments first", f.args)
	}
}
