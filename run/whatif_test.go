package run

import (
	"context"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/store"
)

// TestWhatIfPlansWhatIsLeft: what-if projects a move as the controller
// would make it: the work after the run's checkpoint, within the budget
// its attempts left, and a run whose attempts used up its budget fails
// rather than moves. Before, it planned the whole job against the whole
// budget and named a move the controller would not make.
func TestWhatIfPlansWhatIsLeft(t *testing.T) {
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	c := f.controller(nil)
	doc := jobDoc(10, 1)
	// Large enough that the work, not the fixed overheads, makes the cost.
	doc.Content = strings.Replace(doc.Content, "  tokens: 1.0e6\n", "  tokens: 1.0e10\n  budgetUSD: 400\n", 1)
	doc.Content = strings.Replace(doc.Content, "parameters: 1.0e6", "parameters: 1.0e9", 1)
	r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{doc}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Site != "alpha" {
		t.Fatalf("submitted to %s (%s), want alpha", r.Site, r.Reason)
	}
	// The proposal: no training in alpha's country.
	_, eng, err := f.rs.Proposed(rules.Change{Files: []policy.File{denyPack("test-no-sg", "SG", "2020-01-01")}})
	if err != nil {
		t.Fatal(err)
	}
	law := planner.PolicyLaw(eng)
	proposed := LawNow{Rev: f.rs.Current().Rev + 1, Law: law, Dates: eng.Dates()}
	plan := func(ctx context.Context, w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
		return planner.Make(w, job, planner.Options{AsOf: asOf, ExcludeSites: exclude, Rules: law})
	}
	asOf := c.today()
	whatIf := func() WhatIfRun {
		t.Helper()
		rep, err := c.WhatIf(ctx, proposed, plan, asOf)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Runs) != 1 {
			t.Fatalf("what-if runs: %+v", rep.Runs)
		}
		return rep.Runs[0]
	}
	whole := whatIf()
	if whole.Outcome != "unlawful" || whole.MoveTo != "bravo" || whole.NewCostUSD <= 0 || !whole.Affected {
		t.Fatalf("a run that has not run: %+v, want a move to bravo", whole)
	}
	// Half of it done, at a checkpoint, for $1 of the budget: the move is
	// of the half that is left.
	start := time.Now().Add(-time.Hour)
	setRun := func(count int) {
		t.Helper()
		if _, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
			a := &r.Attempts[len(r.Attempts)-1]
			a.Count, a.PricePerHour, a.Started, a.Ended = count, 1, start, start.Add(time.Hour)
			r.Checkpoint = &Checkpoint{Name: "ck", Site: "alpha", Step: 5}
			r.Progress = &Progress{Step: 5, Steps: 10}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Step(ctx, r.ID); err != nil { // planned → staging: attempt 1 exists
		t.Fatal(err)
	}
	setRun(1)
	half := whatIf()
	if half.Outcome != "unlawful" || half.MoveTo != "bravo" || !strings.Contains(half.Reason, "50 % of the work") || !strings.Contains(half.Reason, "budget $399 of $400") {
		t.Fatalf("half done: %+v", half)
	}
	if ratio := half.NewCostUSD / whole.NewCostUSD; ratio < 0.4 || ratio > 0.6 {
		t.Errorf("the move of half the work costs %g of the whole's %g", half.NewCostUSD, whole.NewCostUSD)
	}
	// Its attempt used the whole budget: the controller would end it at
	// its re-plan, and what-if says so.
	setRun(400)
	spent := whatIf()
	if spent.Outcome != "fails" || spent.MoveTo != "" || !spent.Affected || !strings.Contains(spent.Reason, "budget of $400 is spent") {
		t.Fatalf("budget used up: %+v, want fails", spent)
	}
}
