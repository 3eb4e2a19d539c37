package run

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/store"
)

// TestSubmitRecordsRevisionOfItsPlan: a rules revision applied while a run
// is planned (after the planner took its snapshot of the law) must not be
// recorded on a run its plan was not judged under. Here the revision
// forbids the site the older law chose; a run recorded as checked under it
// while placed there would be taken as lawful under a law that denies it.
func TestSubmitRecordsRevisionOfItsPlan(t *testing.T) {
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	law := f.rs.Law()
	plans, applied := 0, int64(0)
	c := f.controller(func(cfg *Config) {
		cfg.Plan = func(w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
			plans++
			p, err := planner.Make(w, job, planner.Options{AsOf: asOf, ExcludeSites: exclude, Rules: law})
			if plans == 1 {
				// The revision lands after the plan's snapshot was taken.
				rev, _, aerr := f.rs.Apply(ctx, rules.Change{Files: []policy.File{denyPack("test-no-sg", "SG", "2020-01-01")}}, "admin", "test", time.Now())
				if aerr != nil {
					t.Fatal(aerr)
				}
				applied = rev.Rev
			}
			return p, err
		}
	})
	r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(10, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	if applied == 0 || r.Law == nil {
		t.Fatalf("revision applied %d, run's law %+v", applied, r.Law)
	}
	if r.Site == "alpha" && r.Law.Revision >= applied {
		t.Fatalf("run placed at alpha (SG) under the older law is recorded as checked under revision %d, which denies SG", r.Law.Revision)
	}
	if r.Law.Revision != applied || r.Site != "bravo" {
		t.Fatalf("run at %s recorded under revision %d; want bravo, planned again under revision %d", r.Site, r.Law.Revision, applied)
	}
	if plans != 2 {
		t.Fatalf("%d plans, want 2 (one under each revision)", plans)
	}
}

// TestSubmitRefusesWhileRulesKeepChanging: when a revision lands during
// every plan, Submit gives up after planTries plans rather than record a
// revision no plan was judged under, and stores no run.
func TestSubmitRefusesWhileRulesKeepChanging(t *testing.T) {
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	law := f.rs.Law()
	plans := 0
	c := f.controller(func(cfg *Config) {
		cfg.Plan = func(w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
			plans++
			p, err := planner.Make(w, job, planner.Options{AsOf: asOf, ExcludeSites: exclude, Rules: law})
			id := fmt.Sprintf("test-no-zz%d", plans)
			if _, _, aerr := f.rs.Apply(ctx, rules.Change{Files: []policy.File{denyPack(id, "ZZ", "2020-01-01")}}, "admin", "test", time.Now()); aerr != nil {
				t.Fatal(aerr)
			}
			return p, err
		}
	})
	r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(10, 1)}})
	if err == nil || !strings.Contains(err.Error(), "the rules changed during each of 3 plans") {
		t.Fatalf("got run %+v, error %v; want a refusal saying the rules kept changing", r, err)
	}
	if plans != planTries {
		t.Fatalf("%d plans, want %d", plans, planTries)
	}
	runs, err := f.st.ListRuns(ctx, store.ListOptions{AllTenants: true})
	if err != nil || len(runs) != 0 {
		t.Fatalf("%d runs stored (%v), want none", len(runs), err)
	}
}

// TestReplanRecordsRevisionOfItsPlan: the same for a run moving off a
// site: a revision that lands while its re-plan is made (forbidding the
// place that plan chose) must not be recorded as the law the target was
// chosen under; the run is planned again under it.
func TestReplanRecordsRevisionOfItsPlan(t *testing.T) {
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	law := f.rs.Law()
	moving, applied, chosen := false, int64(0), ""
	c := f.stagingController(func(cfg *Config) {
		cfg.Plan = func(w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
			p, err := planner.Make(w, job, planner.Options{AsOf: asOf, ExcludeSites: exclude, Rules: law})
			if moving && applied == 0 && err == nil && len(p.Placements) > 0 {
				// The revision lands after the re-plan's snapshot was
				// taken, and forbids the country it chose.
				chosen = p.Placements[0].Site
				rev, _, aerr := f.rs.Apply(ctx, rules.Change{Files: []policy.File{denyPack("test-no-chosen", p.Placements[0].Country, "2020-01-01")}}, "admin", "test", time.Now())
				if aerr != nil {
					t.Fatal(aerr)
				}
				applied = rev.Rev
			}
			return p, err
		}
	})
	r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(10, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		r.Migration = &Migration{From: r.Site, Reason: "test: site lost", LostAt: time.Now()}
		return transition(ch, r, Migrating, "test: moving")
	}); err != nil {
		t.Fatal(err)
	}
	moving = true
	if _, err := c.Step(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	if applied == 0 {
		t.Fatal("no revision was applied during the re-plan: the test tries nothing")
	}
	got, err := c.Get(ctx, "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Migration != nil && got.Migration.Target != nil && got.Migration.Target.Site == chosen {
		t.Fatalf("the run moves to %s, which revision %d forbids, chosen under the older law", chosen, applied)
	}
}

// TestReleaseRecordsRevisionOfItsPlan: the same for a held run released to
// a placement. A revision that lands while its plan is made, after the
// planner took its snapshot of the law, forbids the site the older law
// chose: the run must not be released there as if it were lawful now.
func TestReleaseRecordsRevisionOfItsPlan(t *testing.T) {
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	law := f.rs.Law()
	held, applied, chosen := false, int64(0), ""
	c := f.stagingController(func(cfg *Config) {
		cfg.Plan = func(w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
			p, err := planner.Make(w, job, planner.Options{AsOf: asOf, ExcludeSites: exclude, Rules: law})
			if held && applied == 0 && err == nil && len(p.Placements) > 0 {
				chosen = p.Placements[0].Site
				rev, _, aerr := f.rs.Apply(ctx, rules.Change{Files: []policy.File{denyPack("test-no-chosen", p.Placements[0].Country, "2020-01-01")}}, "admin", "test", time.Now())
				if aerr != nil {
					t.Fatal(aerr)
				}
				applied = rev.Rev
			}
			return p, err
		}
	})
	r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(10, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		r.Hold = &Hold{Reason: "test", Code: "not-now", Since: time.Now(), NextTry: time.Now().Add(-time.Minute)}
		return transition(ch, r, Held, "test: held")
	}); err != nil {
		t.Fatal(err)
	}
	held = true
	if _, err := c.Step(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	if applied == 0 {
		t.Fatal("no revision was applied during the held run's plan: the test tries nothing")
	}
	got, err := c.Get(ctx, "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Migration != nil && got.Migration.Target != nil && got.Migration.Target.Site == chosen {
		t.Fatalf("the held run is released to %s, which revision %d forbids, chosen under the older law (recorded revision %d)", chosen, applied, got.Migration.Revision)
	}
	if got.State == Migrating && (got.Migration == nil || got.Migration.Revision < applied) {
		t.Fatalf("released under revision %+v, want at least %d", got.Migration, applied)
	}
}
