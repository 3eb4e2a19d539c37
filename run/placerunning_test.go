package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/internal/syncbuf"
	"meridian.dev/meridian/store"
)

// TestRunningRunSiteWrittenOutsideMeridian: whoever can write the database
// but has no audit key rewrote a queued or running run's site (its row's
// site, its placement's and its attempt's): its placement was confirmed
// only before its attempt started, so its next step asked the other site's
// backend about it, found no such job there, and moved it on, with no
// sealed record of any of it. Nor was a row that a server had confirmed
// held to a move sealed since (by another server): the placement it kept
// was taken. A step of a queued or running run is now held to its newest
// sealed placement decision: one whose row names another is left as it is,
// its step refused (nothing asked of a site), and it is marked changed
// outside Meridian until the row is put back.
func TestRunningRunSiteWrittenOutsideMeridian(t *testing.T) {
	ctx := context.Background()
	f, live, fresh := witnessedControllers(t)
	get := func(id string) *Run {
		t.Helper()
		got, err := live.Get(ctx, "t1", id)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	r, _, err := live.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(1000, 100)}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Site != "alpha" {
		t.Fatalf("the run is placed at %s; the test wants alpha", r.Site)
	}
	for range 6 {
		if _, err := live.Step(ctx, r.ID); err != nil {
			t.Logf("step: %v", err)
		}
		if r = get(r.ID); r.Handle != "" || r.State.Final() {
			break
		}
	}
	if r.Handle == "" || (r.State != Queued && r.State != Running) || r.Site != "alpha" {
		t.Fatalf("the run as placed: %s at %s (%s), handle %q; want its attempt started at alpha", r.State, r.Site, r.Reason, r.Handle)
	}
	// Its step as placed confirms it, and keeps its placement.
	if _, err := live.Step(ctx, r.ID); err != nil {
		t.Fatalf("a step of the run as placed: %v", err)
	}
	r = get(r.ID)
	handle, state := r.Handle, r.State

	// moveRow sets the run's site, its placement's and its attempts' as
	// the database writer does.
	country := ""
	moveRow := func(to, toCountry string) {
		t.Helper()
		var data string
		if err := f.st.DB().QueryRowContext(ctx, `SELECT data FROM runs WHERE id = ?`, r.ID).Scan(&data); err != nil {
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
		if err := json.Unmarshal(d["attempts"], &attempts); err != nil {
			t.Fatal(err)
		}
		if country == "" {
			country, _ = pl["country"].(string)
		}
		pl["site"], pl["country"] = to, toCountry
		for _, a := range attempts {
			a["site"] = to
		}
		d["placement"], _ = json.Marshal(pl)
		d["attempts"], _ = json.Marshal(attempts)
		b, _ := json.Marshal(d)
		if _, err := f.st.DB().ExecContext(ctx, `UPDATE runs SET data = ?, site = ? WHERE id = ?`, string(b), to, r.ID); err != nil {
			t.Fatal(err)
		}
	}
	refused := func(what string, c *Controller) {
		t.Helper()
		if _, err := c.Step(ctx, r.ID); !errors.Is(err, ErrRunChanged) || !strings.Contains(err.Error(), "changed outside Meridian") || !strings.Contains(err.Error(), r.ID) {
			t.Errorf("%s: step %v; want it refused, naming the run changed outside Meridian", what, err)
		}
		got := get(r.ID)
		if got.State != state || got.Handle != handle || got.Migration != nil || got.Attempt != r.Attempt {
			t.Errorf("%s: the run is %s at %s (%s), attempt %d, handle %q; want it left %s with handle %q", what, got.State, got.Site, got.Reason, got.Attempt, got.Handle, state, handle)
		}
		if why := c.ChangedOutsideMeridian(ctx, got, false); !strings.Contains(why, "changed outside Meridian") {
			t.Errorf("%s: listed as changed %q; want it marked", what, why)
		}
		if why := c.ChangedOutsideMeridian(ctx, got, true); !strings.Contains(why, "changed outside Meridian") {
			t.Errorf("%s: read as changed %q; want it marked", what, why)
		}
	}

	// (a) Its site rewritten to bravo: the server that confirmed it, and
	// one started afresh, ask bravo nothing.
	moveRow("bravo", "MY")
	refused("running run's site rewritten", live)
	refused("running run's site rewritten, a new server", fresh())

	// The loop's every tick steps it, and is refused the same way: the
	// refusal is logged once, not at every tick (whoever writes the
	// database would fill the server's log with one row).
	var logged syncbuf.Buffer
	quiet := live.cfg.Logger
	live.cfg.Logger = slog.New(slog.NewTextHandler(&logged, nil))
	for range 3 {
		live.Tick(ctx)
	}
	live.cfg.Logger = quiet
	if n := strings.Count(logged.String(), "changed outside Meridian"); n != 1 {
		t.Errorf("three ticks over the changed run logged its refusal %d times; want once:\n%s", n, logged.String())
	}

	// Put back, it is monitored again and no longer marked.
	moveRow("alpha", country)
	if _, err := live.Step(ctx, r.ID); err != nil {
		t.Errorf("a step once the row is put back: %v", err)
	}
	if why := live.ChangedOutsideMeridian(ctx, get(r.ID), false); why != "" {
		t.Errorf("once the row is put back, listed as changed %q; want it unmarked", why)
	}

	// (b) A move to bravo sealed since this server confirmed alpha (as
	// another server's move seals it), the row left at alpha: the
	// placement kept here is not taken.
	p := r.Placement
	rec, err := audit.NewRecord(audit.KindDecision, r.ID, map[string]any{"decision": "move",
		"placement": placeOf{Site: "bravo", Accelerator: p.Accelerator, Count: p.Count, Pool: p.Pool}, "placesAttempt": r.Attempt})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.AppendAudit(ctx, rec); err != nil {
		t.Fatal(err)
	}
	refused("running run held at a placement moved since", live)
}

// runReads counts the audit log's pages read, those of one run's records
// apart.
type runReads struct {
	store.Store
	all, run int
}

func (c *runReads) AuditSelectPage(ctx context.Context, q store.AuditQuery) ([]audit.Entry, int64, error) {
	c.all++
	if q.RunID != "" {
		c.run++
	}
	return c.Store.AuditSelectPage(ctx, q)
}

// TestRunningSiteWitnessCost: a running run's step confirms its site at a
// bounded cost: one read of the decision records sealed since the last
// (of every run, shared), and its own records read again only when one of
// them came since, not at each step, nor for another run's records.
func TestRunningSiteWitnessCost(t *testing.T) {
	ctx := context.Background()
	st, _ := testStore(t)
	w := &runWitness{chain: audit.NewChain(testAuditKey)}
	reads := &runReads{Store: st}
	decide := func(id, site string) { t.Helper(); sealPlacement(t, st, id, site) }
	at := func(site string) *Run { return runningAt(site, "h1") }
	decide("r1", "alpha")
	if err := w.confirmSite(ctx, reads, at("alpha")); err != nil {
		t.Fatalf("the run as placed: %v", err)
	}
	all, run := reads.all, reads.run
	const steps = 10
	for range steps {
		decide("r2", "bravo")
		if err := w.confirmSite(ctx, reads, at("alpha")); err != nil {
			t.Fatal(err)
		}
	}
	if reads.run != run || reads.all-all > steps {
		t.Errorf("%d steps of an unchanged run read %d pages of its records and %d in all; want none of its own, at most one a step", steps, reads.run-run, reads.all-all)
	}
	decide("r1", "bravo")
	run = reads.run
	if err := w.confirmSite(ctx, reads, at("alpha")); !errors.Is(err, ErrRunChanged) {
		t.Errorf("a run moved since, its row left: %v; want ErrRunChanged", err)
	}
	if reads.run-run != 1 {
		t.Errorf("a record of the run came: %d pages of its records read; want 1", reads.run-run)
	}
}

// TestRunningSiteWitnessBounded: the runs whose newest decision record
// the witness keeps are bounded, on a server whose loop prunes nothing
// (one answering GETs): past the bound every placement kept is forgotten,
// and a run confirmed again reads its own records, still held to them.
func TestRunningSiteWitnessBounded(t *testing.T) {
	defer func(n int) { maxNewestKept = n }(maxNewestKept)
	maxNewestKept = 3
	ctx := context.Background()
	st, _ := testStore(t)
	w := &runWitness{chain: audit.NewChain(testAuditKey)}
	reads := &runReads{Store: st}
	decide := func(id, site string) { t.Helper(); sealPlacement(t, st, id, site) }
	at := func(site string) *Run { return runningAt(site, "") }
	decide("r1", "alpha")
	if err := w.confirmSite(ctx, reads, at("alpha")); err != nil {
		t.Fatalf("the run as placed: %v", err)
	}
	for i := range 10 {
		decide(fmt.Sprintf("other-%d", i), "bravo")
		if err := w.confirmSite(ctx, reads, at("alpha")); err != nil {
			t.Fatalf("the run as placed, %d other runs decided: %v", i+1, err)
		}
		if n := len(w.newest); n > maxNewestKept {
			t.Fatalf("%d runs' newest records kept; want at most %d", n, maxNewestKept)
		}
	}
	decide("r1", "bravo")
	if err := w.confirmSite(ctx, reads, at("alpha")); !errors.Is(err, ErrRunChanged) {
		t.Errorf("a run moved since, its row left: %v; want ErrRunChanged", err)
	}
}

// sealPlacement appends a sealed decision record placing run id at site
// (8 H100s).
func sealPlacement(t *testing.T, st store.Store, id, site string) {
	t.Helper()
	rec, err := audit.NewRecord(audit.KindDecision, id, map[string]any{"placement": placeOf{Site: site, Accelerator: "nvidia-h100-sxm", Count: 8}})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AppendAudit(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
}

// runningAt is run r1 running its first attempt (handle h) at site, on
// 8 H100s.
func runningAt(site, h string) *Run {
	r := &Run{ID: "r1", Tenant: "t1", Job: "tiny", State: Running, Site: site, Attempt: 1, Handle: h}
	r.Placement.Site, r.Placement.Accelerator, r.Placement.Count = site, "nvidia-h100-sxm", 8
	r.Attempts = []Attempt{{N: 1, Site: site, Count: 8, Handle: h}}
	return r
}
