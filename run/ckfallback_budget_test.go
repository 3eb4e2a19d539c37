package run

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/internal/testplan"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/store"
)

// budgetPlan is testplan.Cheapest with each placement's cost in
// proportion to the job's tokens (the whole job, 1e6 tokens, costs a
// pool's price for its count) and the placements over the job's budget
// left out, as the planner leaves them.
func budgetPlan(ctx context.Context, w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
	plan, err := testplan.Cheapest(ctx, w, job, asOf, exclude)
	if err != nil {
		return nil, err
	}
	kept := plan.Placements[:0]
	for _, p := range plan.Placements {
		p.CostUSD = p.PricePerHour * float64(p.Count) * job.Spec.Tokens / 1e6
		if b := job.Spec.BudgetUSD; b > 0 && p.CostUSD > b {
			plan.Rejected = append(plan.Rejected, planner.Rejection{Site: p.Site, Country: p.Country, Accelerator: p.Accelerator, Kind: planner.KindBudget, Resolution: planner.NotNow, Candidates: 1})
			plan.Summary.RejectedByKind[string(planner.KindBudget)]++
			continue
		}
		kept = append(kept, p)
	}
	plan.Placements = kept
	for i := range plan.Placements {
		plan.Placements[i].Rank = i + 1
	}
	plan.Summary.Placements = len(kept)
	return plan, nil
}

// fallbackBudgetRun is a run of 100 steps with a budget of budget
// dollars that lost alpha with its latest checkpoint at step 90 (gone
// from alpha's store) and an older one at step 40 (intact), planned
// again: bravo, at $16 for the whole job, is its target for the 10 %
// left after step 90.
func fallbackBudgetRun(t *testing.T, budget string, mods ...func(*Config)) (*ckMoveFixture, *Run) {
	t.Helper()
	doc := jobDoc(100, 10)
	doc.Content = strings.Replace(doc.Content, "  method: pretrain\n", "  method: pretrain\n  budgetUSD: "+budget+"\n", 1)
	f := newCkMoveFixtureWith(t, func(cfg *Config) {
		cfg.Plan = budgetPlan
		for _, m := range mods {
			m(cfg)
		}
	}, doc)
	ctx := context.Background()
	if _, err := f.c.update(ctx, f.r.ID, func(r *Run, ch *store.Change) error {
		r.Progress = &Progress{Step: 95, Steps: 100}
		gone := *f.ck
		gone.Step, gone.Name = 90, "ckpt-"+r.ID+"-a1-90"
		r.setCheckpoint(&gone)
		r.Migration.setTarget(nil)
		r.Excluded = []string{"alpha"}
		r.Losses = map[string]SiteLoss{"alpha": {Until: f.clk.Now().Add(24 * time.Hour)}}
		// Sealed as a loss is (lose): a run's excluded sites are held
		// to the sites it lost.
		return stateRecord(ch, r.ID, Running, Migrating, "site alpha lost: test")
	}); err != nil {
		t.Fatal(err)
	}
	r := f.step(t)
	if r.State != Migrating || r.Migration == nil || r.Migration.Target == nil || r.Migration.Target.Site != "bravo" || r.Migration.Done != 0.9 {
		t.Fatalf("re-planned after losing alpha: %s, migration %+v (%s); want moving to bravo for the work after step 90", r.State, r.Migration, r.Reason)
	}
	return f, r
}

// TestFallbackRejudgesTheTargetForTheWorkLeft: bravo was chosen for the
// 10 % of the work left after step 90 ($1.60 of a $9 budget), but only
// step 40's checkpoint can move, leaving 60 % ($9.60, over the budget).
// The run resumed at bravo from step 40 all the same, past its budget,
// its plan counting work as done that it no longer had. Now the target
// is judged again for the work left after step 40, and the run is
// planned again for that work: no place meets it, and it waits held,
// saying why.
func TestFallbackRejudgesTheTargetForTheWorkLeft(t *testing.T) {
	f, _ := fallbackBudgetRun(t, "9")
	r := f.step(t)
	if r.State == Staging || r.Site == "bravo" {
		t.Fatalf("resumed from step 40 at bravo, $9.60 of work on a $9 budget: %s at %s (%s); want it planned again", r.State, r.Site, r.Reason)
	}
	got := eventsOf(t, f.c, r.ID, "replanned")
	if len(got) != 2 || !strings.Contains(got[1], "step 40") || !strings.Contains(got[1], "60 % of the work") {
		t.Fatalf("timeline's replanned events: %q; want the second to say the run resumes from step 40 with 60 %% of the work left", got)
	}
	for i := 0; i < 3 && r.State == Migrating; i++ {
		r = f.step(t)
	}
	if r.State != Held || !strings.Contains(r.Reason, "left alpha") {
		t.Fatalf("after the re-plan for the work left after step 40: %s (%s); want held, no place within the budget", r.State, r.Reason)
	}
}

// TestFallbackKeepsATargetThatStillFits: with a budget that covers the
// work left after step 40 at bravo ($9.60 of $20), the move goes on
// from step 40 as before.
func TestFallbackKeepsATargetThatStillFits(t *testing.T) {
	f, _ := fallbackBudgetRun(t, "20")
	r := f.step(t)
	if r.State != Staging || r.Site != "bravo" || r.Checkpoint == nil || r.Checkpoint.Step != 40 || r.Checkpoint.Site != "bravo" {
		t.Fatalf("a budget that covers the work after step 40: %s at %s, checkpoint %+v (%s); want staging at bravo from step 40", r.State, r.Site, r.Checkpoint, r.Reason)
	}
}

// TestHeldFallbackKeepsItsStep: the run above, held because no place
// meets the work left after step 40 within its budget, is tried again
// for that work, not for the 10 % after its latest checkpoint (gone). Its
// hold forgot the step it had fallen back to: each retry planned the 10 %,
// sent the run to bravo, copied step 40's checkpoint there, judged bravo
// again for the 60 % and held the run again, a copy each round for ever.
func TestHeldFallbackKeepsItsStep(t *testing.T) {
	f, _ := fallbackBudgetRun(t, "9")
	r := f.step(t)
	for i := 0; i < 3 && r.State == Migrating; i++ {
		r = f.step(t)
	}
	if r.State != Held {
		t.Fatalf("after the re-plan for the work left after step 40: %s (%s); want held", r.State, r.Reason)
	}
	moves := len(eventsOf(t, f.c, r.ID, "checkpoint-moved"))
	for range 6 {
		f.clk.set(f.clk.Now().Add(time.Hour))
		r = f.step(t)
		if r.State == Migrating && r.Migration != nil && r.Migration.Done > 0.6 {
			t.Fatalf("held run released for %.0f %% of the work done, its checkpoint at step 90 gone: %s (%s)", 100*r.Migration.Done, r.State, r.Reason)
		}
	}
	if got := eventsOf(t, f.c, r.ID, "checkpoint-moved"); len(got) != moves {
		t.Errorf("checkpoints copied while held for a budget no place meets: %q; want none after the hold", got[moves:])
	}
}

// TestFallbackRejudgesTheCountBravoCanGive: the move to bravo (8
// accelerators, for the work after step 90) falls back to step 40's
// checkpoint, and bravo now says it can give Meridian only 6. The target
// is judged again for the work left as a plan would judge it now, with
// the room bravo has for the run (its own 8 counted as its): 6 at bravo
// meet the job, and the run goes on there with 6. It was judged for the
// 8 it had asked for, on the catalog's figure, and staged there with 8
// of a pool that could give 6.
func TestFallbackRejudgesTheCountBravoCanGive(t *testing.T) {
	f, r := fallbackBudgetRun(t, "20")
	if r.Migration.Target.Count != 8 {
		t.Fatalf("target %+v; want 8 at bravo", r.Migration.Target)
	}
	bravo, err := f.c.Site("bravo")
	if err != nil {
		t.Fatal(err)
	}
	f.c.ReportCapacity(bravo, map[string]int{"nvidia-h100-sxm": 6}, f.clk.Now().Add(time.Second))
	r = f.step(t)
	if r.State != Staging || r.Site != "bravo" || r.Placement.Count != 6 || r.Checkpoint == nil || r.Checkpoint.Step != 40 {
		t.Fatalf("bravo can give 6: %s at %s with %d, checkpoint %+v (%s); want staging at bravo with 6 from step 40", r.State, r.Site, r.Placement.Count, r.Checkpoint, r.Reason)
	}
	if got := eventsOf(t, f.c, r.ID, "checkpoint-fallback"); len(got) != 1 || !strings.Contains(got[0], "6 ") {
		t.Errorf("timeline's checkpoint-fallback: %q; want it to say the count changed to 6", got)
	}
}

// TestFallbackCountIsSealed: the count a fallback judged again gives a
// run (6 at bravo, where its plan's sealed decision named 8) was in no
// sealed record, so the placement witness compared a moved run's site,
// accelerator and pool but not its count, and a row rewritten outside
// Meridian to another count than the move took was staged and started
// with it. The move's write now seals the placement it gives the
// attempt: the run with 6 goes on, and its row rewritten to 4 is
// refused.
func TestFallbackCountIsSealed(t *testing.T) {
	f, r := fallbackBudgetRun(t, "20", func(cfg *Config) { cfg.AuditChain = audit.NewChain(testAuditKey) })
	bravo, err := f.c.Site("bravo")
	if err != nil {
		t.Fatal(err)
	}
	f.c.ReportCapacity(bravo, map[string]int{"nvidia-h100-sxm": 6}, f.clk.Now().Add(time.Second))
	r = f.step(t)
	if r.State != Staging || r.Placement.Count != 6 || r.Attempt != 2 {
		t.Fatalf("bravo can give 6: %s at %s with %d, attempt %d (%s); want staging at bravo with 6, attempt 2", r.State, r.Site, r.Placement.Count, r.Attempt, r.Reason)
	}
	ctx := context.Background()
	if err := f.c.runWitness.confirmPlace(ctx, f.c.cfg.Store, r); err != nil {
		t.Fatalf("the run as the move placed it: %v", err)
	}
	r, err = f.c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		r.Placement.Count = 4
		r.Attempts[len(r.Attempts)-1].Count = 4
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.c.runWitness.confirmPlace(ctx, f.c.cfg.Store, r); err == nil || !errors.Is(err, ErrRunChanged) || !strings.Contains(err.Error(), "6 ") {
		t.Errorf("the moved run's row rewritten to 4: %v; want it refused as changed outside Meridian, naming the sealed 6", err)
	}
}
