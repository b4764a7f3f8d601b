// Package audittest is the driver-independent half of the drivers' audit
// integration tests: the command's run with its secrets directory, the
// findings as comparable lines, the controller calls that make healthy
// objects next to the orphans, and the scenario every orphan kind goes
// through (report, --delete within the grace, --delete --grace=0s with one
// orphan kept, then clean). Used only by tests.
package audittest

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/seed-6a310834/ceph-csi/shared/audit"
)

// WriteSecrets writes secrets one file a field, as the command's
// --secrets-dir reads them, into a fresh directory and returns it.
func WriteSecrets(t testing.TB, secrets map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for k, v := range secrets {
		if err := os.WriteFile(filepath.Join(dir, k), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Lines returns findings as "kind name" lines, sorted.
func Lines(findings []*audit.Finding) []string {
	var out []string
	for _, f := range findings {
		out = append(out, f.Kind.String()+" "+f.Name)
	}
	sort.Strings(out)
	return out
}

// Equal fails t unless got (sorted) holds exactly want.
func Equal(t testing.TB, what string, got, want []string) {
	t.Helper()
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\n got  %q\n want %q", what, got, want)
	}
}

// Command is a driver's audit command with the test's cluster, secrets
// and scope.
type Command struct {
	T testing.TB
	// Name is how the log names the command, e.g. "rbd-driver audit".
	Name string
	Main func(ctx context.Context, args []string, stdout, stderr io.Writer) int
	// Args are the arguments of every run; Key must never be printed.
	Args []string
	Key  string
	Ctx  func() context.Context
}

// Run runs the command with extra arguments after Args, fails the test if
// it printed the key, and returns its exit code and standard output.
func (c Command) Run(extra ...string) (int, string) {
	c.T.Helper()
	var out, errs bytes.Buffer
	code := c.Main(c.Ctx(), slices.Concat(c.Args, extra), &out, &errs)
	if strings.Contains(out.String()+errs.String(), c.Key) {
		c.T.Errorf("the audit printed the key")
	}
	c.T.Logf("%s %s: exit %d\n%s%s", c.Name, strings.Join(extra, " "), code, out.String(), errs.String())
	return code, out.String()
}

// Scenario is every orphan kind made on purpose, one of them (Busy) kept
// by --delete even at grace 0 until Release frees it.
type Scenario struct {
	Command Command
	// Scan returns the findings as Lines.
	Scan    func() []string
	Orphans []string
	// Busy is the finding --delete --grace=0s keeps, with a report line
	// holding Kept ("kept: in use: ..."); Release frees it, as Freed says.
	Busy, Kept, Freed string
	Release           func()
}

// Check runs the scenario: the scan finds exactly the orphans; the report
// exits ExitOrphans and points to --delete; --delete within the default
// grace deletes nothing; --delete --grace=0s deletes all but Busy; once
// released, Busy goes too and the audit is clean.
func (s Scenario) Check(t testing.TB) {
	t.Helper()
	Equal(t, "findings", s.Scan(), s.Orphans)
	code, out := s.Command.Run()
	if code != audit.ExitOrphans || !strings.Contains(out, "run with --delete") {
		t.Fatalf("report mode: exit %d, want %d", code, audit.ExitOrphans)
	}
	code, out = s.Command.Run("--delete")
	if code != audit.ExitOrphans || strings.Contains(out, "\ndeleted ") || !strings.Contains(out, "kept: too young") {
		t.Fatalf("--delete with the default grace: exit %d, want %d and nothing deleted", code, audit.ExitOrphans)
	}
	Equal(t, "findings after --delete with the default grace", s.Scan(), s.Orphans)

	code, out = s.Command.Run("--delete", "--grace=0s")
	if code != audit.ExitOrphans || !strings.Contains(out, s.Kept) {
		t.Fatalf("--delete --grace=0s with %s: exit %d, want %d and %q", s.Busy, code, audit.ExitOrphans, s.Kept)
	}
	Equal(t, "findings after --delete --grace=0s", s.Scan(), []string{s.Busy})
	s.Release()
	if code, _ = s.Command.Run("--delete", "--grace=0s"); code != audit.ExitClean {
		t.Fatalf("--delete --grace=0s %s: exit %d, want %d", s.Freed, code, audit.ExitClean)
	}
	Equal(t, "findings at the end", s.Scan(), nil)
}

// Controller makes and removes the healthy volumes and snapshots through
// a driver's controller, failing the test on any error.
type Controller struct {
	T       testing.TB
	Server  csi.ControllerServer
	Secrets map[string]string
	Ctx     func() context.Context
}

// Snapshot creates snapshot name of volume volID.
func (c Controller) Snapshot(name, volID string) *csi.Snapshot {
	c.T.Helper()
	resp, err := c.Server.CreateSnapshot(c.Ctx(), &csi.CreateSnapshotRequest{Name: name, SourceVolumeId: volID, Secrets: c.Secrets})
	if err != nil {
		c.T.Fatalf("CreateSnapshot(%s): %v", name, err)
	}
	return resp.GetSnapshot()
}

// DeleteVolume deletes volume id.
func (c Controller) DeleteVolume(id string) {
	c.T.Helper()
	if _, err := c.Server.DeleteVolume(c.Ctx(), &csi.DeleteVolumeRequest{VolumeId: id, Secrets: c.Secrets}); err != nil {
		c.T.Fatalf("DeleteVolume: %v", err)
	}
}

// DeleteSnapshot deletes snapshot id.
func (c Controller) DeleteSnapshot(id string) {
	c.T.Helper()
	if _, err := c.Server.DeleteSnapshot(c.Ctx(), &csi.DeleteSnapshotRequest{SnapshotId: id, Secrets: c.Secrets}); err != nil {
		c.T.Fatalf("DeleteSnapshot: %v", err)
	}
}
