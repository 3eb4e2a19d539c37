package run

import (
	"context"
	"errors"
	"testing"

	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/store"
)

// TestHeldLawMoveKeepsItsRuleDay: a run moving ahead of a rule's date (SG
// closed from July) is held on the way. Its release, in June, places it
// where it is lawful in July too (bravo, MY), not at alpha (SG), lawful
// only until then, and the move still names the day. The hold lost the
// day, and the release put the run back at alpha for a few weeks, to be
// moved again.
func TestHeldLawMoveKeepsItsRuleDay(t *testing.T) {
	f, rs := newLawCkMoveFixture(t, jobDoc(100, 10), nil)
	ctx := context.Background()
	cur, _, err := rs.Apply(ctx, rules.Change{Files: []policy.File{denyPack("test-no-sg-july", "SG", "2026-07-01")}}, "admin", "test", f.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.update(ctx, f.r.ID, func(r *Run, ch *store.Change) error {
		r.Migration.Reason, r.Migration.Until, r.Migration.Rule, r.Migration.Target = "test: SG closes in July", "2026-07-01", "test-no-sg-july", nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	r, err := f.c.Get(ctx, "t1", f.r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.hold(ctx, r, "test: held on the way", policy.CodeNotNow, "", cur.Rev); err != nil {
		t.Fatal(err)
	}
	if r, err = f.c.Get(ctx, "t1", f.r.ID); err != nil || r.State != Held {
		t.Fatalf("held: %v, %+v", err, r)
	}
	f.clk.set(r.Hold.NextTry.Add(1))
	r = f.step(t)
	if r.State != Migrating || r.Migration == nil || r.Migration.Target == nil {
		t.Fatalf("after the hold's retry: %s (%s), migration %+v; want moving", r.State, r.Reason, r.Migration)
	}
	if r.Migration.Target.Site != "bravo" || r.Migration.Until != "2026-07-01" {
		t.Errorf("released to %s, until %q; want bravo, lawful on 2026-07-01, the day kept", r.Migration.Target.Site, r.Migration.Until)
	}
}

// TestStagingHeldAfterALawMoveKeepsItsRuleDay: a run that moved ahead of a
// rule's date (SG closed from July) to bravo, whose staging there then
// keeps failing, waits held. Its release, in June, still places it where
// it is lawful in July (bravo), not at alpha (SG). The hold that failing
// stagings put the run in dropped the move's day, and the release put the
// run back at alpha, which the law closes weeks later.
func TestStagingHeldAfterALawMoveKeepsItsRuleDay(t *testing.T) {
	f, rs := newLawCkMoveFixture(t, jobDoc(100, 10), nil)
	ctx := context.Background()
	if _, _, err := rs.Apply(ctx, rules.Change{Files: []policy.File{denyPack("test-no-sg-july", "SG", "2026-07-01")}}, "admin", "test", f.clk.Now()); err != nil {
		t.Fatal(err)
	}
	// The run as the move ahead of July leaves it: staging attempt 2 at
	// bravo, its tries but the last spent.
	r, err := f.c.update(ctx, f.r.ID, func(r *Run, ch *store.Change) error {
		pl := *r.Migration.Target
		r.Migration.Reason, r.Migration.Until, r.Migration.Rule = "test: SG closes in July", "2026-07-01", "test-no-sg-july"
		r.Migration.setTarget(nil)
		r.Site, r.Placement = pl.Site, pl
		r.Attempt, r.Staged = 2, 1
		r.Attempts = append(r.Attempts, Attempt{N: 2, Site: pl.Site, Nonce: newNonce(), OwnCheckpointNames: true})
		r.StageTries = maxStageTries - 1
		return transition(ch, r, Staging, "test: preparing attempt 2 at bravo")
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.stageFailed(ctx, r, "", errors.New("test: bravo's store answers 500")); err != nil {
		t.Fatal(err)
	}
	if r, err = f.c.Get(ctx, "t1", f.r.ID); err != nil || r.State != Held || r.Hold == nil {
		t.Fatalf("after the last failed staging: %v, %+v; want held", err, r)
	}
	f.clk.set(r.Hold.NextTry.Add(1))
	r = f.step(t)
	if r.State != Migrating || r.Migration == nil || r.Migration.Target == nil {
		t.Fatalf("after the hold's retry: %s (%s), migration %+v; want moving", r.State, r.Reason, r.Migration)
	}
	if r.Migration.Target.Site != "bravo" || r.Migration.Until != "2026-07-01" {
		t.Errorf("released to %s, until %q; want bravo, lawful on 2026-07-01, the day kept", r.Migration.Target.Site, r.Migration.Until)
	}
}
