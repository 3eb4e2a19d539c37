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
		cfg.Plan = func(ctx context.Context, w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
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
		cfg.Plan = func(ctx context.Context, w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
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

// TestReplanAndReleaseRecordRevisionOfTheirPlan: the same for a run moving
// off a site and for a held run released to a placement: a revision that
// lands while the run's plan is made, after the planner took its snapshot
// of the law, forbids the place that plan chose. The run must not go
// there as if it were lawful now, nor record an older revision than the
// one its plan was judged under; it is planned again under the newer.
func TestReplanAndReleaseRecordRevisionOfTheirPlan(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(r *Run, ch *store.Change) error
	}{
		{"moving off a lost site", func(r *Run, ch *store.Change) error {
			r.Migration = &Migration{From: r.Site, Reason: "test: site lost", LostAt: time.Now()}
			return transition(ch, r, Migrating, "test: moving")
		}},
		{"released from hold", func(r *Run, ch *store.Change) error {
			r.Hold = &Hold{Reason: "test", Code: "not-now", Since: time.Now(), NextTry: time.Now().Add(-time.Minute)}
			return transition(ch, r, Held, "test: held")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
			law := f.rs.Law()
			armed, applied, chosen := false, int64(0), ""
			c := f.stagingController(func(cfg *Config) {
				cfg.Plan = func(ctx context.Context, w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
					p, err := planner.Make(w, job, planner.Options{AsOf: asOf, ExcludeSites: exclude, Rules: law})
					if armed && applied == 0 && err == nil && len(p.Placements) > 0 {
						// The revision lands after the plan's snapshot was
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
			if _, err := c.update(ctx, r.ID, tc.set); err != nil {
				t.Fatal(err)
			}
			armed = true
			if _, err := c.Step(ctx, r.ID); err != nil {
				t.Fatal(err)
			}
			if applied == 0 {
				t.Fatal("no revision was applied during the run's plan: the test tries nothing")
			}
			got, err := c.Get(ctx, "t1", r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Migration != nil && got.Migration.Target != nil && got.Migration.Target.Site == chosen {
				t.Fatalf("the run moves to %s, which revision %d forbids, chosen under the older law", chosen, applied)
			}
		})
	}
}
