package audit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"
)

// ErrOrphansRemain is returned by Run when orphans were found and not all
// of them were deleted (report mode, or kept by the rules). The commands
// exit with ExitOrphans then.
var ErrOrphansRemain = errors.New("orphans found and left in place")

// Options configure Run.
type Options struct {
	// Delete removes the eligible orphans after printing the plan.
	Delete bool
	// Policy decides what is eligible.
	Policy Policy
	// Out receives the report.
	Out io.Writer
}

// Summary counts what Run found and did.
type Summary struct {
	// Found is the number of orphans found.
	Found int
	// Eligible is how many the rules allow to delete.
	Eligible int
	// Deleted is how many were deleted.
	Deleted int
	// Changed is how many the re-check before deletion found healthy again.
	Changed int
	// Failed is how many deletions failed.
	Failed int
}

// Run prints every finding with its decision and, with o.Delete, deletes
// the eligible ones in order (snapshots, images and subvolumes, journal
// records, directory entries), each after the re-check of its Remove.
//
// It returns nil when nothing is left behind (no orphan, or every one
// deleted or found healthy again), an error naming the failures when a
// deletion failed, and ErrOrphansRemain otherwise.
func Run(ctx context.Context, findings []*Finding, o Options) (Summary, error) {
	findings = ordered(findings)
	decisions := o.Policy.Decide(findings)
	var sum Summary
	sum.Found = len(findings)
	for _, d := range decisions {
		if d.Action == Delete {
			sum.Eligible++
		}
	}
	if err := printPlan(o.Out, findings, decisions, o.Policy.Now, o.Delete); err != nil {
		return sum, err
	}
	var failures []error
	if o.Delete && sum.Eligible > 0 {
		failures = deleteAll(ctx, o.Out, findings, decisions, &sum)
	}
	fmt.Fprintf(o.Out, "%d orphan(s) found, %d eligible for deletion (grace %s), %d deleted, %d healthy again, %d failed\n",
		sum.Found, sum.Eligible, o.Policy.Grace, sum.Deleted, sum.Changed, sum.Failed)
	switch {
	case len(failures) > 0:
		return sum, fmt.Errorf("%d deletion(s) failed: %w", len(failures), errors.Join(failures...))
	case sum.Deleted+sum.Changed < sum.Found:
		return sum, ErrOrphansRemain
	}
	return sum, nil
}

// ordered sorts findings by step, kind and name (a copy).
func ordered(findings []*Finding) []*Finding {
	out := slices.Clone(findings)
	slices.SortStableFunc(out, func(a, b *Finding) int {
		return cmp.Or(cmp.Compare(a.Step, b.Step), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name))
	})
	return out
}

func printPlan(w io.Writer, findings []*Finding, decisions []Decision, now time.Time, deleting bool) error {
	if len(findings) == 0 {
		_, err := fmt.Fprintln(w, "no orphans found")
		return err
	}
	title := "orphans (run with --delete to remove those marked delete):"
	if deleting {
		title = "orphans; those marked delete will now be removed:"
	}
	fmt.Fprintln(w, title)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tWHAT\tNAME\tAGE\tACTION\tDETAIL")
	for i, f := range findings {
		age := "?"
		if !f.Since.IsZero() {
			age = FormatAge(now.Sub(f.Since))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", f.Kind, f.What, f.Name, age, decisions[i].Reason, f.Detail)
	}
	return tw.Flush()
}

// deleteAll removes the eligible findings in order. A finding whose
// dependency was not removed is skipped.
func deleteAll(ctx context.Context, w io.Writer, findings []*Finding, decisions []Decision, sum *Summary) []error {
	removed := map[*Finding]bool{}
	var failures []error
	for i, f := range findings {
		if decisions[i].Action != Delete {
			continue
		}
		if d := firstNotRemoved(f.DependsOn, removed); d != nil {
			fmt.Fprintf(w, "skipped %s %s: %s was not deleted\n", f.What, f.Name, d.Name)
			continue
		}
		err := f.Remove(ctx)
		switch {
		case errors.Is(err, ErrChanged):
			sum.Changed++
			fmt.Fprintf(w, "left %s %s: %v\n", f.What, f.Name, err)
		case err != nil:
			sum.Failed++
			failures = append(failures, fmt.Errorf("%s %s: %w", f.What, f.Name, err))
			fmt.Fprintf(w, "FAILED to delete %s %s: %v\n", f.What, f.Name, err)
		default:
			sum.Deleted++
			removed[f] = true
			fmt.Fprintf(w, "deleted %s %s\n", f.What, f.Name)
		}
	}
	return failures
}

func firstNotRemoved(deps []*Finding, removed map[*Finding]bool) *Finding {
	for _, d := range deps {
		if !removed[d] {
			return d
		}
	}
	return nil
}
