package run

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/store"
)

// newWitnessedBatchEnv is newBatchEnv with the audit log's key: its
// controller holds runs to their sealed records.
func newWitnessedBatchEnv(t *testing.T) *batchEnv {
	t.Helper()
	st, dir := testStore(t)
	c := New(Config{Store: st, StateDir: dir, CatalogDir: "testdata/batch-sites", Workers: 2, AuditChain: audit.NewChain(testAuditKey),
		Plan: func(ctx context.Context, w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
			return planner.Make(w, job, planner.Options{AsOf: asOf, ExcludeSites: exclude})
		},
		Backends: func(site *catalog.Site, root string) (backend.Backend, error) {
			return backend.For(site.Spec.Backend, root)
		},
		ServerURL: "http://127.0.0.1:1", AgentKey: []byte("agent key for the batch tests")})
	return &batchEnv{t: t, c: c, st: st}
}

// lostSealed seals that run id (of tenant t1) lost site, as a move after
// a loss does (lose), and gives its row the list Meridian writes with it;
// then cuts the site off its row's list, as whoever can write the
// database does, with no sealed record.
func (e *batchEnv) lostSealedThenCut(id, site string) {
	e.t.Helper()
	ctx := context.Background()
	rec, err := audit.NewRecord(audit.KindState, id, map[string]string{"from": string(Running), "to": string(Migrating), "reason": "site " + site + " lost: test"})
	if err != nil {
		e.t.Fatal(err)
	}
	rec.Tenant = "t1"
	if err := e.st.AppendAudit(ctx, rec); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.c.update(ctx, id, func(r *Run, ch *store.Change) error {
		r.Excluded, r.Losses = nil, nil
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
}

// TestAdmissionHoldsExcludedToSealedLosses: admission planned a waiting
// run by the sites its row excluded, as written, while its steps hold
// that list to its sealed records: a row whose list was cut short outside
// Meridian brought a site the run lost (ca) back into its choice, and it
// was admitted there. Admission now plans it only by the sites its sealed
// records say it lost: such a run is not planned.
func TestAdmissionHoldsExcludedToSealedLosses(t *testing.T) {
	e := newWitnessedBatchEnv(t)
	e.submit("t0", batchJob("hold-cb", 1e9, "cb"), 0, Planned)
	v := e.submit("t1", batchJob("hold-ca", 1e9, "ca"), 0, Planned)
	w := e.submit("t1", batchJob("waits", 1e9, "ca"), 0, Held)
	e.lostSealedThenCut(w.ID, "ca")
	e.end(v.ID) // ca has room
	at := time.Now().Add(time.Hour)
	e.c.cfg.Now = func() time.Time { return at }
	plan := e.c.cfg.Plan
	e.c.cfg.Plan = func(ctx context.Context, cw *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
		if job.Metadata.Name == "waits" && !contains(exclude, "ca") {
			t.Errorf("the waiting run was planned with %v excluded; want ca, which its sealed records say it lost, left out", exclude)
		}
		return plan(ctx, cw, job, asOf, exclude)
	}
	e.admit()
	if got := e.get(w.ID); got.State != Held {
		t.Errorf("the waiting run, its row's list of lost sites cut short: %s at %s; want it left held", got.State, got.Site)
	}
	if why := e.c.ChangedOutsideMeridian(context.Background(), e.get(w.ID), false); !strings.Contains(why, `"ca"`) {
		t.Errorf("listed as changed %q; want it marked, naming ca", why)
	}
}

// TestPreemptionHoldsExcludedToSealedLosses: a preemption planned the
// waiting run in its victim's place by the sites its row excluded, as
// written: a row whose list was cut short outside Meridian brought a site
// the run lost (ca) back, and the run preempted a run there. It now plans
// by the sites its sealed records say it lost: such a run preempts none.
func TestPreemptionHoldsExcludedToSealedLosses(t *testing.T) {
	// As newPreemptEnv: t0's run holds cb, and t1's run v (priority 0,
	// checkpointed) runs at ca.
	e := newWitnessedBatchEnv(t)
	ctx := context.Background()
	e.submit("t0", batchJob("hold-cb", 1e9, "cb"), 0, Planned)
	v := e.submit("t1", batchJob("victim", 1e9, "ca"), 0, Planned)
	if _, err := e.c.update(ctx, v.ID, func(r *Run, ch *store.Change) error {
		r.State = Running
		r.Checkpoint = &Checkpoint{Step: 10, Name: "ck-10", Site: "ca"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	w := e.submit("t1", batchJob("high", 1e9, "ca"), 5, Held)
	e.lostSealedThenCut(w.ID, "ca")
	u, err := e.c.usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	plans := maxPreemptPlans
	got, err := e.c.tryPreempt(ctx, u, e.get(w.ID), []*Run{e.get(v.ID)}, &plans)
	if got != nil {
		t.Errorf("the waiting run, its row's list of lost sites cut short, preempted %s", got.ID)
	}
	if !errors.Is(err, ErrRunChanged) {
		t.Errorf("tryPreempt: %v; want the waiting run refused as changed outside Meridian", err)
	}
	if r := e.get(v.ID); r.State != Running || r.Migration != nil {
		t.Errorf("the victim: %s (%s); want it left running", r.State, r.Reason)
	}
}

// TestWhatIfHoldsExcludedToSealedLosses: what-if planned a waiting run by
// the sites its row excluded, as written: a row whose list was cut short
// outside Meridian showed the run released to a site it lost (ca). It now
// plans by the sites its sealed records say it lost: such a run is not
// planned, its outcome undetermined.
func TestWhatIfHoldsExcludedToSealedLosses(t *testing.T) {
	e := newWitnessedBatchEnv(t)
	ctx := context.Background()
	cb := e.submit("t0", batchJob("hold-cb", 1e9, "cb"), 0, Planned)
	ca := e.submit("t1", batchJob("hold-ca", 1e9, "ca"), 0, Planned)
	w := e.submit("t1", batchJob("waits", 1e9, "ca"), 0, Held)
	e.lostSealedThenCut(w.ID, "ca")
	// The waiting run alone is live: this server has no law for the
	// others' outcomes.
	e.end(ca.ID)
	e.end(cb.ID)
	plan := func(ctx context.Context, cw *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
		if job.Metadata.Name == "waits" && !contains(exclude, "ca") {
			t.Errorf("what-if planned the waiting run with %v excluded; want ca, which its sealed records say it lost, left out", exclude)
		}
		return planner.Make(cw, job, planner.Options{AsOf: asOf, ExcludeSites: exclude})
	}
	rep, err := e.c.WhatIf(ctx, e.c.lawNow(), plan, e.c.today())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Runs {
		if r.Run == w.ID && (r.MoveTo == "ca" || r.Outcome != "undetermined") {
			t.Errorf("what-if of the waiting run: %s, to %q (%s); want it undetermined, not planned", r.Outcome, r.MoveTo, r.Reason)
		}
	}
}

// TestPreemptionHoldsVictimExcludedToSealedLosses: the victim's own
// plan, which says whether it keeps a lawful place to resume or wait, was
// made by the sites its row excluded, as written: a row whose list was cut
// short outside Meridian weighed it with a site it lost (cb) back. It is
// now weighed by the sites its sealed records say it lost: such a run is
// not preempted.
func TestPreemptionHoldsVictimExcludedToSealedLosses(t *testing.T) {
	e := newWitnessedBatchEnv(t)
	ctx := context.Background()
	e.submit("t0", batchJob("hold-cb", 1e9, "cb"), 0, Planned)
	v := e.submit("t1", batchJob("victim", 1e9, "ca", "cb"), 0, Planned)
	if v.Site != "ca" {
		t.Fatalf("the victim runs at %s; the test wants ca", v.Site)
	}
	if _, err := e.c.update(ctx, v.ID, func(r *Run, ch *store.Change) error {
		r.State = Running
		r.Checkpoint = &Checkpoint{Step: 10, Name: "ck-10", Site: "ca"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.lostSealedThenCut(v.ID, "cb")
	w := e.submit("t1", batchJob("high", 1e9, "ca"), 5, Held)
	plan := e.c.cfg.Plan
	e.c.cfg.Plan = func(ctx context.Context, cw *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
		if job.Metadata.Name == "victim" && !contains(exclude, "cb") {
			t.Errorf("the victim was weighed with %v excluded; want cb, which its sealed records say it lost, left out", exclude)
		}
		return plan(ctx, cw, job, asOf, exclude)
	}
	u, err := e.c.usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	plans := maxPreemptPlans
	got, err := e.c.tryPreempt(ctx, u, e.get(w.ID), []*Run{e.get(v.ID)}, &plans)
	if got != nil {
		t.Errorf("the victim, its row's list of lost sites cut short, was preempted")
	}
	if !errors.Is(err, ErrRunChanged) {
		t.Errorf("tryPreempt: %v; want the victim refused as changed outside Meridian", err)
	}
}
