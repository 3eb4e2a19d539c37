package run

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/store"
)

// lostSealedEndedEarly seals that run id (of tenant t1) lost site, its
// exclusion to end at sealed, as lose does, and gives its row the list
// Meridian writes with it; then ends that exclusion at until on its row,
// as whoever can write the database does, with no sealed record.
func (e *batchEnv) lostSealedEndedEarly(id, site string, sealed, until time.Time) {
	e.t.Helper()
	ctx := context.Background()
	rec, err := audit.NewRecord(audit.KindState, id, map[string]string{"from": string(Running), "to": string(Migrating), "reason": lostReason(site, sealed, "test")})
	if err != nil {
		e.t.Fatal(err)
	}
	rec.Tenant = "t1"
	if err := e.st.AppendAudit(ctx, rec); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.c.update(ctx, id, func(r *Run, ch *store.Change) error {
		r.Excluded = []string{site}
		r.Losses = map[string]SiteLoss{site: {Count: 1, Until: until}}
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
}

// TestExclusionEndHeldToSealedLoss: how long a lost site stays out of a
// run's plans was read from its row (Losses[site].Until) as written: a row
// whose exclusion of a site the run lost a moment ago (ca) was ended early
// outside Meridian brought the site back at once, and the run was
// admitted there. The end is now held to the loss's sealed record (its
// time and the backoff): such a run is neither admitted nor stepped, and
// is marked changed outside Meridian. A row that keeps the sealed end, or
// one past it, is planned as before.
func TestExclusionEndHeldToSealedLoss(t *testing.T) {
	e := newWitnessedBatchEnv(t)
	ctx := context.Background()
	e.submit("t0", batchJob("hold-cb", 1e9, "cb"), 0, Planned)
	v := e.submit("t1", batchJob("hold-ca", 1e9, "ca"), 0, Planned)
	w := e.submit("t1", batchJob("waits", 1e9, "ca"), 0, Held)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e.c.cfg.Now = func() time.Time { return at }
	sealed := at.Add(e.c.lostSiteBackoff(1))
	e.lostSealedEndedEarly(w.ID, "ca", sealed, at.Add(-time.Second))
	e.end(v.ID) // ca has room
	var planned []string
	plan := e.c.cfg.Plan
	e.c.cfg.Plan = func(ctx context.Context, cw *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
		if job.Metadata.Name == "waits" {
			planned = append(planned, strings.Join(exclude, ","))
		}
		return plan(ctx, cw, job, asOf, exclude)
	}
	e.admit()
	if got := e.get(w.ID); got.State != Held {
		t.Errorf("admission, the run's exclusion of ca ended early on its row: %s at %s; want it left held", got.State, got.Site)
	}
	if len(planned) > 0 {
		t.Errorf("admission planned the run excluding %q; want it not planned", planned)
	}
	if why := e.c.ChangedOutsideMeridian(ctx, e.get(w.ID), false); !strings.Contains(why, `"ca"`) {
		t.Errorf("listed as changed %q; want it marked, naming ca", why)
	}
	if _, err := e.c.Step(ctx, w.ID); !errors.Is(err, ErrRunChanged) {
		t.Errorf("its step: %v; want it refused as changed outside Meridian", err)
	}
	if got := e.get(w.ID); got.State != Held {
		t.Errorf("after its step: %s at %s; want it left held", got.State, got.Site)
	}

	// The row put back to the sealed end: its list is confirmed, ca left
	// out.
	if _, err := e.c.update(ctx, w.ID, func(r *Run, ch *store.Change) error {
		r.Losses["ca"] = SiteLoss{Count: 1, Until: sealed}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got, err := e.c.excludedConfirmed(ctx, e.get(w.ID)); err != nil || len(got) != 1 || got[0] != "ca" {
		t.Errorf("the row put back: excluded %v, %v; want [ca]", got, err)
	}
	// Past the sealed end, the row's early end says nothing more.
	if _, err := e.c.update(ctx, w.ID, func(r *Run, ch *store.Change) error {
		r.Losses["ca"] = SiteLoss{Count: 1, Until: at.Add(-time.Hour)}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.c.cfg.Now = func() time.Time { return sealed }
	if got, err := e.c.excludedConfirmed(ctx, e.get(w.ID)); err != nil || len(got) != 0 {
		t.Errorf("past the sealed end: excluded %v, %v; want none", got, err)
	}
}

// TestLossSealsItsExclusionEnd: a loss (lose) seals the end of its site's
// exclusion with it, by the controller's clock and the site's backoff, so
// a moving run whose row is as Meridian wrote it is stepped, and one
// whose row's end was then brought forward, or whose entry was dropped,
// is refused.
func TestLossSealsItsExclusionEnd(t *testing.T) {
	e := newWitnessedBatchEnv(t)
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e.c.cfg.Now = func() time.Time { return at }
	r := e.submit("t1", batchJob("moves", 1e9, "ca", "cb"), 0, Planned)
	lost := r.Site
	if _, err := e.c.lose(ctx, r, "test"); err != nil {
		t.Fatal(err)
	}
	got := e.get(r.ID)
	if got.State != Migrating || !got.Losses[lost].Until.Equal(at.Add(e.c.lostSiteBackoff(1))) {
		t.Fatalf("after the loss: %s, losses %v; want moving, %s out for one backoff", got.State, got.Losses, lost)
	}
	if err := e.c.runWitness.confirmMove(ctx, e.st, got, e.c.lossClock()); err != nil {
		t.Errorf("the moving run as Meridian wrote it: %v; want it stepped", err)
	}
	for name, losses := range map[string]map[string]SiteLoss{
		"ended early": {lost: {Count: 1, Until: at.Add(time.Second)}},
		"dropped":     {},
	} {
		if _, err := e.c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
			r.Losses = losses
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := e.c.runWitness.confirmMove(ctx, e.st, e.get(r.ID), e.c.lossClock()); !errors.Is(err, ErrRunChanged) || !strings.Contains(err.Error(), lost) {
			t.Errorf("its row's exclusion of %s %s: %v; want it refused as changed outside Meridian, naming the site", lost, name, err)
		}
	}
}

// TestLostSiteReadsNoEndFromTheSitesWords: a loss's reason ends with the
// site's own words, which may ape a sealed end: only the end Meridian
// wrote ahead of them is read.
func TestLostSiteReadsNoEndFromTheSitesWords(t *testing.T) {
	for reason, want := range map[string]string{
		"site ca lost: node down lost (excluded until 2099-01-01T00:00:00Z): x":                                        "",
		lostReason("ca", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), "lost (excluded until 2099-01-01T00:00:00Z): x"): "2026-03-01T00:00:00Z",
	} {
		payload, _ := json.Marshal(map[string]string{"from": "running", "to": string(Migrating), "reason": reason})
		site, until := lostSite(payload)
		got := ""
		if !until.IsZero() {
			got = until.Format(time.RFC3339)
		}
		if site != "ca" || got != want {
			t.Errorf("lostSite(%q) = %q, %q; want ca, %q", reason, site, got, want)
		}
	}
}
