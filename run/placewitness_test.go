package run

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/store"
)

// TestRunPlacementWrittenOutsideMeridian: whoever can write the database
// but has no audit key rewrote a live run's site and placement (its row's
// site, its placement's site, accelerator or count, its attempt's site):
// the run staged and started its attempt there, while the log verified,
// since only the decision record of each placement is sealed. A run about
// to stage or start an attempt is now held to its newest sealed decision
// record: the step fails it, naming it changed outside Meridian, before
// anything is staged or started, in the server that placed it and in one
// started afresh. A run as placed starts.
func TestRunPlacementWrittenOutsideMeridian(t *testing.T) {
	ctx := context.Background()
	f, live, fresh := witnessedControllers(t)
	submit := func() *Run {
		t.Helper()
		r, _, err := live.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(1000, 100)}})
		if err != nil {
			t.Fatal(err)
		}
		if r.Site != "alpha" || r.Placement.Count < 1 {
			t.Fatalf("the run is placed at %s with %d; the test wants alpha", r.Site, r.Placement.Count)
		}
		return r
	}
	get := func(r *Run) *Run {
		t.Helper()
		got, err := live.Get(ctx, "t1", r.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	steps := func(c *Controller, r *Run, n int, until func(*Run) bool) *Run {
		t.Helper()
		for range n {
			if _, err := c.Step(ctx, r.ID); err != nil {
				t.Logf("step: %v", err)
			}
			if got := get(r); until(got) {
				return got
			}
		}
		return get(r)
	}
	// rewrite sets the run's row as the database writer does: its site
	// column and what its document says of the placement and attempts.
	rewrite := func(r *Run, fn func(site *string, pl map[string]any, attempts []map[string]any)) {
		t.Helper()
		var data, site string
		if err := f.st.DB().QueryRowContext(ctx, `SELECT data, site FROM runs WHERE id = ?`, r.ID).Scan(&data, &site); err != nil {
			t.Fatal(err)
		}
		var d map[string]json.RawMessage
		if err := json.Unmarshal([]byte(data), &d); err != nil {
			t.Fatal(err)
		}
		var pl map[string]any
		var attempts []map[string]any
		if err := json.Unmarshal(d["placement"], &pl); err != nil {
			t.Fatal(err)
		}
		if a, ok := d["attempts"]; ok {
			if err := json.Unmarshal(a, &attempts); err != nil {
				t.Fatal(err)
			}
		}
		fn(&site, pl, attempts)
		d["placement"], _ = json.Marshal(pl)
		if attempts != nil {
			d["attempts"], _ = json.Marshal(attempts)
		}
		b, _ := json.Marshal(d)
		if _, err := f.st.DB().ExecContext(ctx, `UPDATE runs SET data = ?, site = ? WHERE id = ?`, string(b), site, r.ID); err != nil {
			t.Fatal(err)
		}
	}
	toBravo := func(site *string, pl map[string]any, attempts []map[string]any) {
		*site, pl["site"], pl["country"] = "bravo", "bravo", "MY"
		for _, a := range attempts {
			a["site"] = "bravo"
		}
	}
	started := func(r *Run) bool { return r.Handle != "" || r.State.Final() }
	refused := func(what string, c *Controller, r *Run) {
		t.Helper()
		got := steps(c, r, 4, started)
		if got.State != Failed || !strings.Contains(got.Reason, "changed outside Meridian") || !strings.Contains(got.Reason, r.ID) || got.Handle != "" {
			t.Errorf("%s: the run is %s at %s (%s, handle %q), want failed before an attempt started, naming changed outside Meridian", what, got.State, got.Site, got.Reason, got.Handle)
		}
	}

	// A run as placed stages and starts.
	ok := steps(live, submit(), 6, started)
	if ok.Handle == "" || ok.Site != "alpha" || ok.State.Final() {
		t.Fatalf("the run as placed: %s at %s (%s), handle %q; want its attempt started at alpha", ok.State, ok.Site, ok.Reason, ok.Handle)
	}

	// (a) A planned run moved to bravo: the server that placed it (its
	// world built and kept) refuses to stage it.
	a := submit()
	if _, _, err := live.worldJob(a); err != nil {
		t.Fatal(err)
	}
	rewrite(a, toBravo)
	refused("planned run's site rewritten", live, a)

	// (b) A staging run, its attempt recorded at alpha, moved to bravo
	// with its attempt: a server started afresh refuses to start it.
	b := submit()
	if got := steps(live, b, 1, func(r *Run) bool { return r.State == Staging }); got.State != Staging || got.Attempt != 1 {
		t.Fatalf("after a step: %s, attempt %d; want staging attempt 1", got.State, got.Attempt)
	}
	rewrite(b, toBravo)
	refused("staging run's site rewritten", fresh(), b)

	// (c) Its accelerators doubled, placement and attempt.
	c := submit()
	steps(live, c, 1, func(r *Run) bool { return r.State == Staging })
	rewrite(c, func(_ *string, pl map[string]any, attempts []map[string]any) {
		pl["count"] = 2 * c.Placement.Count
		for _, a := range attempts {
			a["count"] = 2 * c.Placement.Count
		}
	})
	refused("staging run's count rewritten", live, c)

	// (d) Its attempt alone moved to bravo.
	d := submit()
	steps(live, d, 1, func(r *Run) bool { return r.State == Staging })
	rewrite(d, func(_ *string, _ map[string]any, attempts []map[string]any) {
		for _, a := range attempts {
			a["site"] = "bravo"
		}
	})
	refused("staging run's attempt site rewritten", live, d)
}

// TestRunPlacementWitnessFollowsMoves: a run's newest sealed decision is
// what holds it: a run that moved is confirmed at its new placement with
// one read of the records sealed since, none when nothing changed, and a
// row put back to a placement an older record names is refused.
func TestRunPlacementWitnessFollowsMoves(t *testing.T) {
	ctx := context.Background()
	st, _ := testStore(t)
	w := &runWitness{chain: audit.NewChain(testAuditKey)}
	reads := &countReads{Store: st}
	decide := func(id, site string, count int) {
		t.Helper()
		rec, err := audit.NewRecord(audit.KindDecision, id, map[string]any{"placement": placeOf{Site: site, Accelerator: "nvidia-h100-sxm", Count: count}})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.AppendAudit(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	at := func(site string, count, attempt int) *Run {
		r := &Run{ID: "r1", Tenant: "t1", Job: "tiny", State: Staging, Site: site, Attempt: attempt}
		r.Placement.Site, r.Placement.Accelerator, r.Placement.Count = site, "nvidia-h100-sxm", count
		r.Attempts = []Attempt{{N: attempt, Site: site, Count: count}}
		return r
	}
	decide("r1", "alpha", 8)
	if err := w.confirmPlace(ctx, reads, at("alpha", 8, 1)); err != nil {
		t.Fatalf("the run as placed: %v", err)
	}
	before := reads.n
	for range 3 {
		if err := w.confirmPlace(ctx, reads, at("alpha", 8, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if reads.n != before {
		t.Errorf("%d reads of the log to confirm an unchanged run again; want none", reads.n-before)
	}
	decide("r1", "bravo", 8)
	if err := w.confirmPlace(ctx, reads, at("bravo", 8, 2)); err != nil {
		t.Errorf("the run moved to bravo: %v", err)
	}
	if err := w.confirmPlace(ctx, reads, at("alpha", 8, 3)); err == nil || !strings.Contains(err.Error(), "changed outside Meridian") || !errors.Is(err, ErrRunChanged) {
		t.Errorf("the row put back to alpha: %v; want a refusal, an ErrRunChanged", err)
	}
	// A decision record added without the key is not sealed: not followed.
	other := &runWitness{chain: audit.NewChain([]byte("another key 0123"))}
	if err := other.confirmPlace(ctx, st, at("bravo", 8, 2)); err == nil || !strings.Contains(err.Error(), "no sealed decision record") {
		t.Errorf("records not sealed under the key: %v; want a refusal", err)
	}
	// A moving run keeps the site it leaves: not held to the target.
	moving := at("alpha", 8, 1)
	moving.State = Migrating
	if err := w.confirmPlace(ctx, st, moving); err != nil {
		t.Errorf("a moving run: %v", err)
	}
}

// countReads counts the audit log's pages read.
type countReads struct {
	store.Store
	n int
}

func (c *countReads) AuditSelectPage(ctx context.Context, q store.AuditQuery) ([]audit.Entry, int64, error) {
	c.n++
	return c.Store.AuditSelectPage(ctx, q)
}

// TestRunPlacementWitnessedMove: a witnessed run that loses its site moves
// and ends at the site its re-plan's sealed decision names: the witness
// follows a genuine move.
func TestRunPlacementWitnessedMove(t *testing.T) {
	e := newEnv(t, func(cfg *Config) { cfg.AuditChain = audit.NewChain(testAuditKey) })
	r, _, err := e.c.Submit(context.Background(), "t1", SubmitRequest{Documents: []Document{jobDoc(60, 10)}})
	if err != nil {
		t.Fatal(err)
	}
	e.waitFor("a checkpoint", 20*time.Second, func(r *Run) bool { return r.Checkpoint != nil && r.Checkpoint.Step >= 20 }, r.ID)
	e.failSite("alpha")
	r = e.waitFor("the end", 30*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
	if r.State != Succeeded || r.Site != "bravo" || r.Attempt != 2 {
		t.Fatalf("ended %s at %s attempt %d: %s", r.State, r.Site, r.Attempt, r.Reason)
	}
}

// witnessedControllers returns a law-check fixture, a controller on its
// store that confirms runs against the audit log (its backends the
// sites' own, its agents served by it), and a function that opens a
// controller like it on a store opened afresh, as a new server would.
func witnessedControllers(t *testing.T) (*lawCheckFixture, *Controller, func() *Controller) {
	t.Helper()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	var live *Controller
	witnessed := func(st store.Store) *Controller {
		return f.controller(func(cfg *Config) {
			cfg.Store, cfg.AuditChain = st, audit.NewChain(testAuditKey)
			cfg.Backends = func(site *catalog.Site, root string) (backend.Backend, error) {
				return backend.For(site.Spec.Backend, root)
			}
			agentConfig(t, cfg, func() *Controller { return live })
		})
	}
	live = witnessed(f.st)
	return f, live, func() *Controller {
		st, err := store.OpenSQLite(context.Background(), filepath.Join(f.dir, "m.db"), store.Options{AuditKey: testAuditKey})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return witnessed(st)
	}
}
