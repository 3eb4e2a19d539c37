package run

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/store"
)

// TestHeldReleasePlanTooLargeForRecord: a held run whose plan, made again
// for its release, is over what a plan record may hold (a job any of
// thousands of sites may take) stays held with the reason, on the hold and
// on the run, and its next try backs off. The release's addPlan refused
// the plan and the error went back to the pass, at every pass, with
// nothing on the run and no backoff.
func TestHeldReleasePlanTooLargeForRecord(t *testing.T) {
	c, _ := hugePlanController(t)
	ctx := context.Background()
	// Accepted while its plan was narrow (one site), the run is then
	// planned over the whole catalog.
	wide := false
	price := 0.0 // added to each placement's price: the pools' prices moved between tries
	c.cfg.Plan = func(ctx context.Context, w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
		if !wide {
			for i := 1; i < hugePlanSites; i++ {
				exclude = append(exclude, fmt.Sprintf("s%05d", i))
			}
		}
		p, err := planner.Make(w, job, planner.Options{AsOf: asOf, ExcludeSites: exclude})
		if err == nil {
			for i := range p.Placements {
				p.Placements[i].PricePerHour += price
			}
		}
		return p, err
	}
	r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(10, 5)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.hold(ctx, r, "held for the test", policy.CodeNotNow, "", 0); err != nil {
		t.Fatal(err)
	}
	before, err := c.Get(ctx, "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if before.State != Held || before.Hold == nil {
		t.Fatalf("run %s, hold %+v; want it held", before.State, before.Hold)
	}
	wide = true
	if _, err := c.retryHeld(ctx, before, true); err != nil {
		var ie *InputError
		t.Fatalf("release over the plan record's bound: %v (an InputError: %v); want the run kept held", err, errors.As(err, &ie))
	}
	after, err := c.Get(ctx, "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if after.State != Held || after.Hold == nil {
		t.Fatalf("after the release over the bound: run %s, hold %+v; want it held", after.State, after.Hold)
	}
	t.Logf("held: %s", after.Hold.Reason)
	for _, want := range []string{"spec.constraints", fmt.Sprint(hugePlanSites, " placements"), fmt.Sprint(maxPlanRecordBytes)} {
		if !strings.Contains(after.Hold.Reason, want) || !strings.Contains(after.Reason, want) {
			t.Errorf("hold's reason %q, run's %q: want both to say %q", after.Hold.Reason, after.Reason, want)
		}
	}
	if after.Hold.Tries != before.Hold.Tries+1 || !after.Hold.NextTry.After(before.Hold.NextTry) {
		t.Errorf("hold tries %d, next try %v (were %d, %v); want another try counted and a later next try", after.Hold.Tries, after.Hold.NextTry, before.Hold.Tries, before.Hold.NextTry)
	}
	// An accepted run cannot be changed: the reason says what its owner
	// can do.
	if want := "cancel the run and submit it again with narrower spec.constraints"; !strings.Contains(after.Hold.Reason, want) {
		t.Errorf("hold's reason %q: want it to say %q", after.Hold.Reason, want)
	}
	// A second try, with the plan's prices (and so its size) moved, is
	// the same hold: one held event for the two. The reason named the
	// plan's byte count, a new event at each try whose plan differed.
	price = 0.123456789
	if _, err := c.retryHeld(ctx, after, true); err != nil {
		t.Fatalf("second release over the plan record's bound: %v; want the run kept held", err)
	}
	again, err := c.Get(ctx, "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if again.State != Held || again.Hold == nil || again.Hold.Tries != after.Hold.Tries+1 {
		t.Fatalf("after the second try: run %s, hold %+v; want it held, another try counted", again.State, again.Hold)
	}
	evs, err := c.Events(ctx, "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var held []string
	for _, ev := range evs {
		if ev.Kind == "held" && strings.Contains(ev.Reason, "spec.constraints") {
			held = append(held, ev.Reason)
		}
	}
	if len(held) != 1 {
		t.Errorf("two tries over the bound recorded %d held events, want 1: %q", len(held), held)
	}
}

// TestReplanPlanTooLargeForRecord: a moving run whose new plan is over
// what a plan record may hold waits held with the reason, tried again
// after the hold's backoff. The re-plan's addPlan refused the plan and the
// error went back to the pass, at every pass, with nothing on the run.
func TestReplanPlanTooLargeForRecord(t *testing.T) {
	c, _ := hugePlanController(t)
	ctx := context.Background()
	wide := false
	c.cfg.Plan = func(ctx context.Context, w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
		if !wide {
			for i := 1; i < hugePlanSites; i++ {
				exclude = append(exclude, fmt.Sprintf("s%05d", i))
			}
		}
		return planner.Make(w, job, planner.Options{AsOf: asOf, ExcludeSites: exclude})
	}
	r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(10, 5)}})
	if err != nil {
		t.Fatal(err)
	}
	moving, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		r.Migration = &Migration{From: "s00000", Reason: "site lost", LostAt: c.cfg.Now()}
		return transition(ch, r, Migrating, "site lost")
	})
	if err != nil {
		t.Fatal(err)
	}
	wide = true
	if _, err := c.replan(ctx, moving); err != nil {
		t.Fatalf("re-plan over the plan record's bound: %v; want the run held", err)
	}
	after, err := c.Get(ctx, "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if after.State != Held || after.Hold == nil {
		t.Fatalf("after the re-plan over the bound: run %s (%s), hold %+v; want it held", after.State, after.Reason, after.Hold)
	}
	t.Logf("held: %s", after.Hold.Reason)
	for _, want := range []string{"spec.constraints", fmt.Sprint(hugePlanSites, " placements"), fmt.Sprint(maxPlanRecordBytes), "cancel the run and submit it again"} {
		if !strings.Contains(after.Hold.Reason, want) || !strings.Contains(after.Reason, want) {
			t.Errorf("hold's reason %q, run's %q: want both to say %q", after.Hold.Reason, after.Reason, want)
		}
	}
	if !after.Hold.NextTry.After(after.Hold.Since) {
		t.Errorf("hold since %v, next try %v: want a later next try", after.Hold.Since, after.Hold.NextTry)
	}
	// Its tries of release, over the same bound, are the same hold: the
	// move's held event is the only one. The first try's reason differed
	// from the move's, a second event.
	for i := range 2 {
		cur, err := c.Get(ctx, "t1", r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.retryHeld(ctx, cur, true); err != nil {
			t.Fatalf("release %d over the plan record's bound: %v; want the run kept held", i+1, err)
		}
	}
	evs, err := c.Events(ctx, "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var held []string
	for _, ev := range evs {
		if ev.Kind == "held" {
			held = append(held, ev.Reason)
		}
	}
	if len(held) != 1 {
		t.Errorf("a move and two tries of release over the bound recorded %d held events, want 1: %q", len(held), held)
	}
}

// TestPlanTooLargeErrorTyped: the plan record's refusal is told from
// other errors by its type, which a release or a move holds on, and is
// still the InputError naming spec.constraints a submission answers with
// (a 400). Both matched any InputError naming spec.constraints, and would
// have held a run on another such error.
func TestPlanTooLargeErrorTyped(t *testing.T) {
	c, _ := hugePlanController(t)
	_, _, err := c.Submit(context.Background(), "t1", SubmitRequest{Documents: []Document{jobDoc(10, 5)}})
	var pe *planTooLargeError
	var ie *InputError
	if !errors.As(err, &pe) || !errors.As(err, &ie) || ie.Field != "spec.constraints" {
		t.Fatalf("submit over the plan record's bound: %v; want a planTooLargeError that is an InputError naming spec.constraints", err)
	}
	if !strings.Contains(err.Error(), " bytes, over the ") {
		t.Errorf("submission's error %q: want it to give the plan's size", err)
	}
	other := fmt.Errorf("release: %w", &InputError{"spec.constraints", errors.New("some other refusal")})
	if errors.As(other, &pe) {
		t.Errorf("%v is taken for the plan record's refusal", other)
	}
}
