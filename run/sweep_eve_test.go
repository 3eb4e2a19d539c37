package run

import (
	"context"
	"testing"
	"time"

	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
)

// TestSweepOnRuleEveEastOfUTC: a rule forbids data in Singapore from 11
// June. At 20:00 UTC on the 10th it is already the 11th east of UTC+4,
// and the law check moves the run off alpha (SG). The sweep of alpha
// then judged its checkpoints on the UTC day (the 10th) only, found them
// lawful, and struck alpha from the run's sweeps: the checkpoints stayed
// where the rule forbade them, never judged again. They are removed.
func TestSweepOnRuleEveEastOfUTC(t *testing.T) {
	f, rs, names := newSweepFixture(t)
	other := names[2]
	ctx := context.Background()
	p := transferRule("test-no-sg", "No data to SG from 11 June", "deny", "2026-06-11", "transfer.to == 'SG'", "")
	if _, _, err := rs.Apply(ctx, rules.Change{Files: []policy.File{p}}, "admin", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	f.clk.set(time.Date(2026, 6, 10, 20, 0, 0, 0, time.UTC))
	var r *Run
	for i := 0; i < 6; i++ {
		r = f.step(t)
		if r.Migration != nil && r.Migration.MoveNext.After(f.clk.Now()) {
			f.clk.set(r.Migration.MoveNext.Add(time.Second))
		}
	}
	if r.Checkpoint == nil || r.Checkpoint.Site != "bravo" {
		t.Fatalf("after the move: %s (%s), checkpoint %+v; want the run's checkpoint at bravo", r.State, r.Reason, r.Checkpoint)
	}
	if got := checkpointsAt(t, f, "alpha"); len(got) != 1 || got[0] != other {
		t.Errorf("checkpoints at alpha after the run left it on the rule's eve: %v; want only another run's %s", got, other)
	}
	if len(r.Swept) != 0 {
		t.Errorf("swept list %+v; want it empty once alpha is swept", r.Swept)
	}
	// Each names the day whose law refused, the 11th, beside the UTC day.
	ws := withdrawalsOf(t, f, r.ID)
	if len(ws) == 0 {
		t.Fatal("no withdrawal recorded for the checkpoints the run left at alpha")
	}
	for _, w := range ws {
		if w.AsOf != "2026-06-10" || w.RuleDay != "2026-06-11" {
			t.Errorf("withdrawal %+v; want it recorded as of the UTC day 2026-06-10, refused by the law of 2026-06-11", w)
		}
	}
}
