// Package audit is what the orphan audit subcommands of both drivers
// (`rbd-driver audit`, `cephfs-driver audit`) share: the kinds of orphans,
// the rules that decide whether one may be deleted (grace period, our name
// prefixes, in use, dependencies), the scan of the omap journal, the report
// and the delete flow, the command-line flags and the exit codes.
//
// The drivers' own packages (rbd-driver/internal/audit,
// cephfs-driver/internal/audit) list their images, subvolumes and
// snapshots and turn what they find into Findings; everything they need to
// decide and to act is here. The package imports no go-ceph.
package audit

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Kind classifies an orphan.
type Kind int

// The kinds of orphans.
const (
	// DanglingEntry is a journal directory entry whose UUID object is
	// missing.
	DanglingEntry Kind = iota + 1
	// UnreferencedRecord is a UUID object that no directory entry points
	// at: a reservation whose directory write never happened.
	UnreferencedRecord
	// MissingObject is a journal record whose image, subvolume or snapshot
	// does not exist: a reservation that never got its object, or an object
	// deleted from outside.
	MissingObject
	// Incomplete is a journal record that was never completed although its
	// object exists: a creation that stopped halfway and was never
	// returned to the CO.
	Incomplete
	// Unrecorded is an image, subvolume or snapshot with our name prefix
	// and no journal record.
	Unrecorded
	// HalfMade is an image or subvolume whose creation was cut off inside
	// Ceph (librbd, the mgr): some of its pieces exist, it does not open.
	HalfMade
)

// String returns the kind as the report prints it.
func (k Kind) String() string {
	switch k {
	case DanglingEntry:
		return "dangling-entry"
	case UnreferencedRecord:
		return "unreferenced-record"
	case MissingObject:
		return "missing-object"
	case Incomplete:
		return "incomplete"
	case Unrecorded:
		return "unrecorded"
	case HalfMade:
		return "half-made"
	}
	return fmt.Sprintf("kind-%d", int(k))
}

// Step orders the deletions: snapshots, then images and subvolumes, then
// journal records, journal directory entries last.
type Step int

// The deletion steps, in order.
const (
	StepSnapshots Step = iota
	StepImages
	StepRecords
	StepEntries
)

// ErrChanged is returned by a Finding's Remove when the re-check just
// before the deletion found the object no longer orphaned (a driver
// completed or removed it meanwhile): nothing was deleted.
var ErrChanged = errors.New("no longer an orphan")

// Finding is one orphan.
type Finding struct {
	// Kind classifies it.
	Kind Kind
	// What names the object's type: "volume record", "image", "tomb",
	// "subvolume", "snapshot", "directory entry", ...
	What string
	// Name locates it, e.g. "pool/csi-vol-<uuid>" or
	// "csi.volumes.default[pvc-1]".
	Name string
	// Detail says why it is an orphan.
	Detail string
	// Since is the last time Ceph recorded a change to the object (its
	// creation, rename or last write): its age is measured from there. Zero
	// means unknown, which keeps it unless the grace period is zero.
	Since time.Time
	// Ours is true for objects that carry one of our name prefixes (journal
	// objects always do). Anything else is never deleted.
	Ours bool
	// InUse, when not empty, says why the object must not be deleted now
	// (watchers, clones in progress, snapshots not made by the driver).
	InUse string
	// Step orders its deletion.
	Step Step
	// DependsOn lists findings that must be deleted first (the orphan
	// snapshots of an orphan image); if one is kept, so is this one.
	DependsOn []*Finding
	// Remove re-checks that the object is still an orphan and deletes it
	// the way the driver would; it returns ErrChanged when the re-check
	// fails.
	Remove func(ctx context.Context) error
}

// Action is what the audit does with a finding.
type Action int

// The actions.
const (
	// Delete: eligible (removed with --delete).
	Delete Action = iota
	// KeepYoung: younger than the grace period.
	KeepYoung
	// KeepUnknownAge: Ceph gave no age and the grace period is not zero.
	KeepUnknownAge
	// KeepForeign: not one of ours (no prefix of ours).
	KeepForeign
	// KeepInUse: in use.
	KeepInUse
	// KeepDependency: something it depends on is kept.
	KeepDependency
)

// Decision is an action and its reason.
type Decision struct {
	Action Action
	Reason string
}

// Policy holds the rules of deletion.
type Policy struct {
	// Grace: anything younger is kept.
	Grace time.Duration
	// Now is the time ages are measured at.
	Now time.Time
}

// decide applies the policy to one finding, dependencies aside.
func (p Policy) decide(f *Finding) Decision {
	switch {
	case !f.Ours:
		return Decision{KeepForeign, "kept: does not carry our name prefix, never deleted"}
	case f.InUse != "":
		return Decision{KeepInUse, "kept: in use: " + f.InUse}
	case p.Grace <= 0:
		return Decision{Delete, "delete"}
	case f.Since.IsZero():
		return Decision{KeepUnknownAge, "kept: age unknown (only --grace=0s deletes it)"}
	}
	if age := p.Now.Sub(f.Since); age < p.Grace {
		return Decision{KeepYoung, fmt.Sprintf("kept: too young (%s < grace %s)", FormatAge(age), p.Grace)}
	}
	return Decision{Delete, "delete"}
}

// Decide returns the decision of every finding, in the order given, a
// finding whose dependency is kept being kept too.
func (p Policy) Decide(findings []*Finding) []Decision {
	out := make([]Decision, len(findings))
	index := make(map[*Finding]int, len(findings))
	for i, f := range findings {
		index[f] = i
		out[i] = p.decide(f)
	}
	// Dependencies form no cycles (a snapshot depends on nothing, an image
	// on its snapshots), but propagate until stable to be safe.
	for changed := true; changed; {
		changed = false
		for i, f := range findings {
			if out[i].Action != Delete {
				continue
			}
			for _, d := range f.DependsOn {
				j, ok := index[d]
				if !ok || out[j].Action != Delete {
					out[i] = Decision{KeepDependency, "kept: depends on " + d.Name + ", which is kept"}
					changed = true
					break
				}
			}
		}
	}
	return out
}

// FormatAge renders an age rounded to the second ("?" when negative, for
// a clock that runs behind the cluster's).
func FormatAge(d time.Duration) string {
	if d < 0 {
		return "?"
	}
	return d.Round(time.Second).String()
}
