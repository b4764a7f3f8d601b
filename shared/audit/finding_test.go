package audit

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestDecide(t *testing.T) {
	p := Policy{Grace: time.Hour, Now: t0}
	old, young := t0.Add(-2*time.Hour), t0.Add(-time.Minute)
	tests := []struct {
		name  string
		f     Finding
		grace time.Duration
		want  Action
	}{
		{"old and ours", Finding{Ours: true, Since: old}, time.Hour, Delete},
		{"exactly the grace", Finding{Ours: true, Since: t0.Add(-time.Hour)}, time.Hour, Delete},
		{"young", Finding{Ours: true, Since: young}, time.Hour, KeepYoung},
		{"young at grace 0", Finding{Ours: true, Since: young}, 0, Delete},
		{"from the future (clock skew)", Finding{Ours: true, Since: t0.Add(time.Minute)}, time.Hour, KeepYoung},
		{"unknown age", Finding{Ours: true}, time.Hour, KeepUnknownAge},
		{"unknown age at grace 0", Finding{Ours: true}, 0, Delete},
		{"not ours", Finding{Since: old}, time.Hour, KeepForeign},
		{"not ours at grace 0", Finding{}, 0, KeepForeign},
		{"in use", Finding{Ours: true, Since: old, InUse: "watchers"}, time.Hour, KeepInUse},
		{"in use at grace 0", Finding{Ours: true, InUse: "watchers"}, 0, KeepInUse},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p.Grace = tc.grace
			f := tc.f
			if got := p.Decide([]*Finding{&f})[0]; got.Action != tc.want {
				t.Fatalf("Decide = %+v, want action %d", got, tc.want)
			}
		})
	}
}

func TestDecideKeepsWhatDependsOnAKeptFinding(t *testing.T) {
	old := t0.Add(-2 * time.Hour)
	youngSnap := &Finding{Name: "img@young", Ours: true, Since: t0}
	oldSnap := &Finding{Name: "img@old", Ours: true, Since: old}
	img := &Finding{Name: "img", Ours: true, Since: old, DependsOn: []*Finding{oldSnap, youngSnap}}
	chained := &Finding{Name: "after-img", Ours: true, Since: old, DependsOn: []*Finding{img}}
	missing := &Finding{Name: "depends-on-unlisted", Ours: true, Since: old, DependsOn: []*Finding{{Name: "unlisted"}}}
	got := Policy{Grace: time.Hour, Now: t0}.Decide([]*Finding{chained, img, oldSnap, youngSnap, missing})
	want := []Action{KeepDependency, KeepDependency, Delete, KeepYoung, KeepDependency}
	for i, d := range got {
		if d.Action != want[i] {
			t.Errorf("finding %d: %+v, want action %d", i, d, want[i])
		}
	}
	if got[1].Reason != "kept: depends on img@young, which is kept" {
		t.Errorf("reason %q", got[1].Reason)
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{DanglingEntry: "dangling-entry", UnreferencedRecord: "unreferenced-record",
		MissingObject: "missing-object", Incomplete: "incomplete", Unrecorded: "unrecorded", 99: "kind-99"} {
		if got := k.String(); got != want {
			t.Errorf("%d: %q, want %q", int(k), got, want)
		}
	}
}

func TestPrefixesMatch(t *testing.T) {
	p := NewPrefixes(VolumePrefix, "", "team-a-", VolumePrefix)
	if len(p) != 2 {
		t.Fatalf("NewPrefixes = %q, want csi-vol- and team-a- once each", p)
	}
	const id = "0f8fad5b-d9cb-469f-a165-70867728950e"
	tests := []struct {
		name string
		ok   bool
	}{
		{"csi-vol-" + id, true},
		{"team-a-" + id, true},
		{"csi-vol-0F8FAD5B-D9CB-469F-A165-70867728950E", true},
		{"csi-vol-x" + id, false},     // another prefix
		{"my-csi-vol-" + id, false},   // another prefix
		{"csi-snap-" + id, false},     // not a volume prefix
		{"csi-vol-" + id[:35], false}, // not a UUID
		{"csi-vol-0f8fad5b_d9cb-469f-a165-70867728950e", false},
		{"csi-vol-0f8fad5b-d9cb-469f-a165-70867728950g", false},
		{id, false},
		{"", false},
	}
	for _, tc := range tests {
		got, ok := p.Match(tc.name)
		if ok != tc.ok || (ok && got != tc.name[len(tc.name)-36:]) {
			t.Errorf("Match(%q) = %q, %v; want ok=%v", tc.name, got, ok, tc.ok)
		}
	}
}
