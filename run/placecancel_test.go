package run

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/store"
)

// changedRunFixture is a run started at alpha on the local backend, with
// a witnessed controller and a way to rewrite its row as whoever can
// write the database (without the audit key) does.
type changedRunFixture struct {
	t    *testing.T
	ctx  context.Context
	f    *lawCheckFixture
	live *Controller
	r    *Run
}

func newChangedRunFixture(t *testing.T) *changedRunFixture {
	t.Helper()
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	x := &changedRunFixture{t: t, ctx: ctx, f: f}
	x.live = x.controller(f.st)
	r, _, err := x.live.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(100000, 100)}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Site != "alpha" {
		t.Fatalf("the run is placed at %s; the test wants alpha", r.Site)
	}
	for range 6 {
		if _, err := x.live.Step(ctx, r.ID); err != nil {
			t.Logf("step: %v", err)
		}
		if r = x.get(r.ID); r.Handle != "" || r.State.Final() {
			break
		}
	}
	if r.Handle == "" || (r.State != Queued && r.State != Running) || r.Site != "alpha" {
		t.Fatalf("the run as placed: %s at %s (%s), handle %q; want its attempt started at alpha", r.State, r.Site, r.Reason, r.Handle)
	}
	x.r = r
	return x
}

// controller is a witnessed controller on st, the agents' reports served
// by x.live.
func (x *changedRunFixture) controller(st store.Store) *Controller {
	return x.f.controller(func(cfg *Config) {
		cfg.Store, cfg.AuditChain = st, audit.NewChain(testAuditKey)
		cfg.Backends = func(site *catalog.Site, root string) (backend.Backend, error) {
			return backend.For(site.Spec.Backend, root)
		}
		agentConfig(x.t, cfg, func() *Controller { return x.live })
	})
}

// fresh is a witnessed controller started afresh on the same database.
func (x *changedRunFixture) fresh() *Controller {
	x.t.Helper()
	st, err := store.OpenSQLite(x.ctx, filepath.Join(x.f.dir, "m.db"), store.Options{AuditKey: testAuditKey})
	if err != nil {
		x.t.Fatal(err)
	}
	x.t.Cleanup(func() { st.Close() })
	return x.controller(st)
}

func (x *changedRunFixture) get(id string) *Run {
	x.t.Helper()
	got, err := x.live.Get(x.ctx, "t1", id)
	if err != nil {
		x.t.Fatal(err)
	}
	return got
}

// rewrite changes the run's stored data (decoded) and its site column to
// site, as the database writer does.
func (x *changedRunFixture) rewrite(site string, fn func(d map[string]json.RawMessage)) {
	x.t.Helper()
	ctx, db := x.ctx, x.f.st.DB()
	var data string
	if err := db.QueryRowContext(ctx, `SELECT data FROM runs WHERE id = ?`, x.r.ID).Scan(&data); err != nil {
		x.t.Fatal(err)
	}
	var d map[string]json.RawMessage
	if err := json.Unmarshal([]byte(data), &d); err != nil {
		x.t.Fatal(err)
	}
	fn(d)
	b, _ := json.Marshal(d)
	if _, err := db.ExecContext(ctx, `UPDATE runs SET data = ?, site = ? WHERE id = ?`, string(b), site, x.r.ID); err != nil {
		x.t.Fatal(err)
	}
}

// moveRow points the run's site, its placement's and its attempts' at
// site, and sets its handle to handle when not "".
func (x *changedRunFixture) moveRow(site, country, handle string) {
	x.t.Helper()
	x.rewrite(site, func(d map[string]json.RawMessage) {
		var pl map[string]any
		var attempts []map[string]any
		if err := json.Unmarshal(d["placement"], &pl); err != nil {
			x.t.Fatal(err)
		}
		if err := json.Unmarshal(d["attempts"], &attempts); err != nil {
			x.t.Fatal(err)
		}
		pl["site"], pl["country"] = site, country
		for _, a := range attempts {
			a["site"] = site
			if handle != "" {
				a["handle"] = handle
			}
		}
		d["placement"], _ = json.Marshal(pl)
		d["attempts"], _ = json.Marshal(attempts)
	})
	if handle != "" {
		if _, err := x.f.st.DB().ExecContext(x.ctx, `UPDATE runs SET handle = ? WHERE id = ?`, handle, x.r.ID); err != nil {
			x.t.Fatal(err)
		}
	}
}

// jobAt is the state of the job handle at site, as its local backend
// tells it.
func (x *changedRunFixture) jobAt(site, handle string) backend.Status {
	x.t.Helper()
	be, err := x.live.backendFor(x.r, site)
	if err != nil {
		x.t.Fatal(err)
	}
	st, err := be.Status(x.ctx, handle)
	if err != nil {
		x.t.Fatal(err)
	}
	return st
}

// TestCancelOfChangedRunReachesSealedSite: a queued or running run whose
// row was rewritten outside Meridian (its site, placement and attempt
// pointed at bravo) had its every step refused, so a user's cancel was
// recorded and sent nowhere: its workload ran on at alpha. The cancel is
// now carried to the site its newest sealed placement names, by the handle
// the sealed record of its submission names, and the run ends cancelled;
// the row's site and handle are not used, nor a cancel forged on the row.
func TestCancelOfChangedRunReachesSealedSite(t *testing.T) {
	x := newChangedRunFixture(t)
	ctx, r := x.ctx, x.r
	handle := r.Handle
	if st := x.jobAt("alpha", handle); st.State.Final() {
		t.Fatalf("the workload at alpha already ended: %+v", st)
	}
	x.moveRow("bravo", "MY", "forged-handle")
	// A cancel written on the row alone, with no sealed record of it,
	// stops nothing.
	x.rewrite("bravo", func(d map[string]json.RawMessage) { d["cancelRequested"] = json.RawMessage("true") })
	if _, err := x.live.Step(ctx, r.ID); !errors.Is(err, ErrRunChanged) {
		t.Errorf("a step of the run whose cancel is forged: %v; want it refused as changed", err)
	}
	if st := x.jobAt("alpha", handle); st.State.Final() {
		t.Errorf("a cancel forged on the row stopped the workload at alpha: %s", st.State)
	}
	x.rewrite("bravo", func(d map[string]json.RawMessage) { delete(d, "cancelRequested") })
	if _, err := x.live.Cancel(ctx, "t1", r.ID); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	for range 3 {
		if _, err := x.live.Step(ctx, r.ID); err != nil {
			t.Logf("step: %v", err)
		}
		if x.get(r.ID).State.Final() {
			break
		}
	}
	if st := x.jobAt("alpha", handle); !st.State.Final() {
		t.Errorf("the workload at alpha after the cancel: %s; want it stopped", st.State)
	}
	got := x.get(r.ID)
	if got.State != Cancelled || !strings.Contains(got.Reason, "alpha") {
		t.Errorf("the run after the cancel: %s (%s); want it cancelled at alpha", got.State, got.Reason)
	}
}

// TestCancelOfChangedRunWithoutSealedSite: a cancelled run whose row was
// changed and whose sealed records name no site (the log's placement
// records of the run gone) sends its cancel nowhere, and says so in its
// reason and timeline, once.
func TestCancelOfChangedRunWithoutSealedSite(t *testing.T) {
	x := newChangedRunFixture(t)
	ctx, r := x.ctx, x.r
	x.moveRow("bravo", "MY", "")
	if _, err := x.live.Cancel(ctx, "t1", r.ID); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	// The decision records that named its placement rewritten (no
	// longer sealed): a server started afresh finds none.
	if _, err := x.f.st.DB().ExecContext(ctx, `UPDATE audit SET payload = replace(payload, '"placement"', '"placemenx"') WHERE run_id = ? AND kind = 'decision'`, r.ID); err != nil {
		t.Fatal(err)
	}
	// The log no longer verifies: a server starts on it only once the
	// operator accepts each break (serve --accept-broken-audit records
	// the acceptance), and its reads of the log then pass those breaks.
	for i := 0; ; i++ {
		res, err := x.f.st.VerifyAudit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.OK {
			break
		}
		if i == 10 {
			t.Fatalf("the log after %d acceptances: %v", i, res.Problem)
		}
		acc, err := audit.NewRecord(audit.KindBrokenAccepted, "", audit.BrokenAccepted{Problem: res.Problem, By: "operator (serve --accept-broken-audit)"})
		if err != nil {
			t.Fatal(err)
		}
		if err := x.f.st.AppendAudit(ctx, acc); err != nil {
			t.Fatal(err)
		}
	}
	c := x.fresh()
	for range 3 {
		if _, err := c.Step(ctx, r.ID); !errors.Is(err, ErrRunChanged) {
			t.Errorf("step: %v; want it refused as changed", err)
		}
	}
	got := x.get(r.ID)
	if got.State.Final() || !strings.Contains(got.Reason, "sent to no site") {
		t.Errorf("the run: %s (%s); want it left, its reason saying its cancel went nowhere", got.State, got.Reason)
	}
	evs, err := x.live.Events(ctx, "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range evs {
		if e.Kind == "cancel-not-sent" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d cancel-not-sent events; want 1", n)
	}
}

// TestCancelOfChangedMovingRunStopsLeftAttempt: a moving run draining its
// attempt at alpha, whose row was changed outside Meridian (its move's
// target pointed at bravo, the site it leaves and its handle rewritten),
// ended cancelled with no site told: its attempt at alpha ran on. The
// cancel now stops the attempt its newest sealed submission record names,
// at that record's site, by that record's handle; the row's are not used.
func TestCancelOfChangedMovingRunStopsLeftAttempt(t *testing.T) {
	x := newChangedRunFixture(t)
	ctx, r := x.ctx, x.r
	handle := r.Handle
	if st := x.jobAt("alpha", handle); st.State.Final() {
		t.Fatalf("the workload at alpha already ended: %+v", st)
	}
	target, _ := json.Marshal(r.Placement)
	var pl map[string]any
	json.Unmarshal(target, &pl)
	pl["site"], pl["country"] = "bravo", "MY"
	x.toState(Migrating, "", "", func(d map[string]json.RawMessage) {
		d["migration"], _ = json.Marshal(map[string]any{"from": "bravo", "reason": "site lost", "lostAt": "2026-01-01T00:00:00Z",
			"target": pl, "drain": true, "drainBy": "2099-01-01T00:00:00Z"})
		d["handle"], _ = json.Marshal("forged-handle")
	})
	if _, err := x.f.st.DB().ExecContext(ctx, `UPDATE runs SET handle = ? WHERE id = ?`, "forged-handle", r.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := x.live.Step(ctx, r.ID); !errors.Is(err, ErrRunChanged) {
		t.Errorf("a step of the changed moving run: %v; want it refused as changed", err)
	}
	if _, err := x.live.Cancel(ctx, "t1", r.ID); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	for range 3 {
		if _, err := x.live.Step(ctx, r.ID); err != nil {
			t.Logf("step: %v", err)
		}
		if x.get(r.ID).State.Final() {
			break
		}
	}
	got := x.get(r.ID)
	if got.State != Cancelled {
		t.Errorf("the run after the cancel: %s (%s); want it cancelled", got.State, got.Reason)
	}
	if st := x.jobAt("alpha", handle); !st.State.Final() {
		t.Errorf("the attempt at alpha the run was leaving, after the cancel: %s; want it stopped", st.State)
	}
	if !strings.Contains(got.Reason, "alpha") || !strings.Contains(got.Reason, handle) {
		t.Errorf("the run's reason %q; want it to name the job stopped at alpha", got.Reason)
	}
}
