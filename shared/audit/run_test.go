package audit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// recorder builds findings whose Remove appends their name to a log.
type recorder struct {
	removed []string
	fail    map[string]error
}

func (r *recorder) finding(name string, step Step, kind Kind, deps ...*Finding) *Finding {
	return &Finding{Name: name, What: "thing", Kind: kind, Step: step, Ours: true, Since: t0.Add(-2 * time.Hour),
		DependsOn: deps, Remove: func(context.Context) error {
			if err := r.fail[name]; err != nil {
				return err
			}
			r.removed = append(r.removed, name)
			return nil
		}}
}

func run(t *testing.T, findings []*Finding, del bool, grace time.Duration) (Summary, string, error) {
	t.Helper()
	var out strings.Builder
	sum, err := Run(context.Background(), findings, Options{Delete: del, Policy: Policy{Grace: grace, Now: t0}, Out: &out})
	return sum, out.String(), err
}

func TestRunWithoutFindingsIsClean(t *testing.T) {
	sum, out, err := run(t, nil, true, time.Hour)
	if err != nil || sum.Found != 0 || !strings.Contains(out, "no orphans found") {
		t.Fatalf("Run = %+v, %v\n%s", sum, err, out)
	}
}

func TestRunReportModeDeletesNothing(t *testing.T) {
	r := &recorder{}
	f := r.finding("pool/csi-vol-x", StepImages, Unrecorded)
	f.Detail = "no volume record owns it"
	sum, out, err := run(t, []*Finding{f}, false, time.Hour)
	if !errors.Is(err, ErrOrphansRemain) || sum.Found != 1 || sum.Eligible != 1 || sum.Deleted != 0 {
		t.Fatalf("Run = %+v, %v", sum, err)
	}
	if len(r.removed) != 0 {
		t.Fatalf("report mode removed %v", r.removed)
	}
	for _, want := range []string{"unrecorded", "thing", "pool/csi-vol-x", "2h0m0s", "delete", "no volume record owns it", "--delete"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestRunDeletesInStepOrder(t *testing.T) {
	r := &recorder{}
	entry := r.finding("entry", StepEntries, DanglingEntry)
	rec := r.finding("record", StepRecords, MissingObject)
	snap := r.finding("img@snap", StepSnapshots, Unrecorded)
	img := r.finding("img", StepImages, Unrecorded, snap)
	sum, out, err := run(t, []*Finding{entry, img, rec, snap}, true, time.Hour)
	if err != nil || sum.Deleted != 4 {
		t.Fatalf("Run = %+v, %v\n%s", sum, err, out)
	}
	if got := strings.Join(r.removed, " "); got != "img@snap img record entry" {
		t.Fatalf("removal order %q, want snapshots, images, records, entries", got)
	}
	if strings.Index(out, "KIND") > strings.Index(out, "deleted ") {
		t.Fatalf("the plan must be printed before the deletions:\n%s", out)
	}
}

func TestRunKeepsWhatTheRulesProtect(t *testing.T) {
	r := &recorder{}
	young := r.finding("young", StepImages, Unrecorded)
	young.Since = t0.Add(-time.Minute)
	foreign := r.finding("foreign", StepImages, Unrecorded)
	foreign.Ours = false
	busy := r.finding("busy", StepImages, Unrecorded)
	busy.InUse = "watchers 1.2.3.4"
	old := r.finding("old", StepImages, Unrecorded)
	sum, out, err := run(t, []*Finding{young, foreign, busy, old}, true, time.Hour)
	if !errors.Is(err, ErrOrphansRemain) || sum.Found != 4 || sum.Eligible != 1 || sum.Deleted != 1 {
		t.Fatalf("Run = %+v, %v\n%s", sum, err, out)
	}
	if strings.Join(r.removed, " ") != "old" {
		t.Fatalf("removed %v, want only the old one", r.removed)
	}
	for _, want := range []string{"kept: too young (1m0s < grace 1h0m0s)", "kept: does not carry our name prefix",
		"kept: in use: watchers 1.2.3.4"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestRunSkipsWhatDependsOnAFailedDeletion(t *testing.T) {
	r := &recorder{fail: map[string]error{"img@snap": errors.New("EBUSY")}}
	snap := r.finding("img@snap", StepSnapshots, Unrecorded)
	img := r.finding("img", StepImages, Unrecorded, snap)
	other := r.finding("other", StepImages, Unrecorded)
	sum, out, err := run(t, []*Finding{img, snap, other}, true, 0)
	if err == nil || errors.Is(err, ErrOrphansRemain) || !strings.Contains(err.Error(), "img@snap: EBUSY") {
		t.Fatalf("Run error %v, want the failed deletion named", err)
	}
	if sum.Failed != 1 || sum.Deleted != 1 || strings.Join(r.removed, " ") != "other" {
		t.Fatalf("Run = %+v, removed %v", sum, r.removed)
	}
	if !strings.Contains(out, "skipped thing img: img@snap was not deleted") {
		t.Fatalf("report:\n%s", out)
	}
}

func TestRunCountsHealthyAgainAsClean(t *testing.T) {
	r := &recorder{fail: map[string]error{"rec": fmt.Errorf("%w: completed meanwhile", ErrChanged)}}
	sum, out, err := run(t, []*Finding{r.finding("rec", StepRecords, MissingObject)}, true, 0)
	if err != nil || sum.Changed != 1 || sum.Deleted != 0 {
		t.Fatalf("Run = %+v, %v\n%s", sum, err, out)
	}
	if !strings.Contains(out, "left thing rec: no longer an orphan: completed meanwhile") {
		t.Fatalf("report:\n%s", out)
	}
}
