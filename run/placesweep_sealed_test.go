package run

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/store"
)

// sealMove seals, as Meridian's own, a placement of the run at from and
// then its move from there to the placement its row holds: from is a site
// a sealed move left.
func (x *changedRunFixture) sealMove(from string) {
	x.t.Helper()
	b, _ := json.Marshal(x.r.Placement)
	var here, there map[string]any
	json.Unmarshal(b, &here)
	json.Unmarshal(b, &there)
	there["site"] = from
	for _, p := range []map[string]any{
		{"placement": there, "why": "test"},
		{"decision": "move", "placement": here, "placesAttempt": x.r.Attempt, "from": from, "why": "test"},
	} {
		rec, err := audit.NewRecord(audit.KindDecision, x.r.ID, p)
		if err != nil {
			x.t.Fatal(err)
		}
		rec.Tenant = "t1"
		if err := x.f.st.AppendAudit(x.ctx, rec); err != nil {
			x.t.Fatal(err)
		}
	}
}

// sweptRecords is the sites the run's records of kind checkpoints-swept
// name.
func (x *changedRunFixture) sweptRecords() []string {
	x.t.Helper()
	es, err := x.f.st.AuditEntries(x.ctx, x.r.ID)
	if err != nil {
		x.t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		if e.Kind == KindCheckpointsSwept {
			var m struct {
				Site string `json:"site"`
			}
			json.Unmarshal(e.Payload, &m)
			out = append(out, m.Site)
		}
	}
	return out
}

func (x *changedRunFixture) setSwept(sites ...string) {
	x.t.Helper()
	x.rewrite(x.get(x.r.ID).Site, func(d map[string]json.RawMessage) {
		sw := []map[string]any{}
		for _, s := range sites {
			sw = append(sw, map[string]any{"site": s})
		}
		d["swept"], _ = json.Marshal(sw)
	})
}

// TestSweptSiteTakenOffTheListStillSwept: a site a run's move left was
// swept only while its row listed it: whoever could write the database
// took it off, and the run's checkpoints there were never judged, with
// nothing to show it. The sites a sealed move left, less those a sealed
// record says were swept (written now as each is taken off), are owed a
// sweep: one taken off the row is put back, its timeline says so, and it
// is swept.
func TestSweptSiteTakenOffTheListStillSwept(t *testing.T) {
	x := newChangedRunFixture(t)
	ctx, r := x.ctx, x.r
	x.sealMove("bravo")
	if _, err := x.live.Step(ctx, r.ID); err != nil {
		t.Fatalf("a step of the run a sealed move brought from bravo: %v", err)
	}
	got := x.get(r.ID)
	restored := eventsOf(t, x.live, r.ID, "sweep-restored")
	if len(restored) != 1 || !strings.Contains(restored[0], "bravo") {
		t.Errorf("the run's timeline: %q; want bravo's sweep put back, once", restored)
	}
	onList := slices.ContainsFunc(got.Swept, func(sw Sweep) bool { return sw.Site == "bravo" })
	if swept := x.sweptRecords(); onList == slices.Contains(swept, "bravo") {
		t.Errorf("after its step: listed to sweep %+v, sealed as swept %q; want bravo either on its list or swept", got.Swept, swept)
	}
	// Swept (or put back) once: the next step finds nothing missing.
	if _, err := x.live.Step(ctx, r.ID); err != nil {
		t.Errorf("the run's next step: %v", err)
	}
	if again := eventsOf(t, x.live, r.ID, "sweep-restored"); len(again) != len(restored) {
		t.Errorf("the run's timeline after its next step: %q; want nothing put back again", again)
	}
	// A site on the list that a step sweeps is sealed as swept: alpha,
	// where it runs, shares its store and is taken off at once.
	x.setSwept("alpha")
	if _, err := x.live.Step(ctx, r.ID); err != nil {
		t.Errorf("a step of the run listing alpha: %v", err)
	}
	if swept := x.sweptRecords(); !slices.Contains(swept, "alpha") {
		t.Errorf("sealed as swept: %q; want alpha", swept)
	}
}

// TestEndedRunSweptSiteWrittenOutsideMeridian: an ended run's sweep, which
// the loop runs (no step of it does), took its row's list as written: a
// site the run was never placed at (bravo) was judged and cleared as its
// own. The sweep now confirms the list it reads as a step's does.
func TestEndedRunSweptSiteWrittenOutsideMeridian(t *testing.T) {
	x := newChangedRunFixture(t)
	ctx, r := x.ctx, x.r
	if _, err := x.live.Cancel(ctx, "t1", r.ID); err != nil {
		t.Fatal(err)
	}
	x.stepToEnd(x.live, 4)
	x.setSwept("bravo")
	x.live.sweepEnded(ctx)
	got := x.get(r.ID)
	if len(got.Swept) != 1 || got.Swept[0].Site != "bravo" || got.Swept[0].Pending != "" || got.Swept[0].Fails != 0 || !got.Swept[0].Next.IsZero() {
		t.Errorf("the ended run's sweep list after the loop's sweep: %+v; want bravo on it, untouched", got.Swept)
	}
	if swept := x.sweptRecords(); len(swept) != 0 {
		t.Errorf("sealed as swept: %q; want none", swept)
	}
}

// getRunHook is a store whose GetRun calls fn before its n-th call.
type getRunHook struct {
	store.Store
	calls atomic.Int32
	n     int32
	fn    func()
}

func (h *getRunHook) GetRun(ctx context.Context, id string) (*store.Run, error) {
	if h.calls.Add(1) == h.n {
		h.fn()
	}
	return h.Store.GetRun(ctx, id)
}

// TestSweepUsesTheListItConfirmed: a step confirmed its row's sweep list,
// and the sweep then read the row again and swept what that read listed: a
// site written in between (bravo, never the run's) was judged and cleared
// as its own. The sweep now confirms the list it reads and sweeps that.
func TestSweepUsesTheListItConfirmed(t *testing.T) {
	x := newChangedRunFixture(t)
	ctx, r := x.ctx, x.r
	x.setSwept("alpha")
	// The step's read is the first; the sweep's the second.
	h := &getRunHook{Store: x.f.st, n: 2, fn: func() { x.setSwept("bravo") }}
	c := x.controller(h)
	_, err := c.Step(ctx, r.ID)
	if h.calls.Load() < 2 {
		t.Fatalf("the step read the run %d times; the test wants the sweep's read after the step's", h.calls.Load())
	}
	if err != nil && !errors.Is(err, ErrRunChanged) {
		t.Errorf("the step: %v", err)
	}
	got := x.get(r.ID)
	if len(got.Swept) != 1 || got.Swept[0].Site != "bravo" || got.Swept[0].Pending != "" || got.Swept[0].Fails != 0 || !got.Swept[0].Next.IsZero() {
		t.Errorf("the run's sweep list: %+v; want bravo, written after the step's check, on it untouched", got.Swept)
	}
	if swept := x.sweptRecords(); slices.Contains(swept, "bravo") {
		t.Errorf("sealed as swept: %q; want not bravo", swept)
	}
}

// TestHeldRunExcludedSiteWrittenOutsideMeridian: a held run's excluded
// sites, which its next plan leaves out, were taken as written: whoever
// could write the database kept it from a lawful site it never lost
// (bravo), steering where it is released to. Each site its row excludes
// must now be one a sealed state record says it lost: one that is not is
// left as it is, its step refused, marked changed outside Meridian.
func TestHeldRunExcludedSiteWrittenOutsideMeridian(t *testing.T) {
	x := newChangedRunFixture(t)
	ctx, r := x.ctx, x.r
	killLocalJobs(x.f.dir)
	exclude := func(site string) {
		x.toState(Held, "", "", func(d map[string]json.RawMessage) {
			d["hold"], _ = json.Marshal(map[string]any{"reason": "held", "code": "not-now", "since": "2026-01-01T00:00:00Z", "nextTry": "2099-01-01T00:00:00Z"})
			d["excluded"], _ = json.Marshal([]string{site})
			d["losses"], _ = json.Marshal(map[string]any{site: map[string]any{"count": 1, "until": "2099-01-01T00:00:00Z"}})
		})
	}
	exclude("bravo")
	for range 2 {
		if _, err := x.live.Step(ctx, r.ID); !errors.Is(err, ErrRunChanged) || !strings.Contains(err.Error(), `"bravo"`) {
			t.Errorf("a step of the held run excluding bravo, never lost: %v; want it refused as changed, naming bravo", err)
		}
	}
	got := x.get(r.ID)
	if got.State != Held || got.Migration != nil {
		t.Errorf("the run: %s at %s (%s); want it left held", got.State, got.Site, got.Reason)
	}
	if why := x.live.ChangedOutsideMeridian(ctx, got, false); !strings.Contains(why, "bravo") {
		t.Errorf("listed as changed %q; want it marked, naming bravo", why)
	}
	// A site a sealed state record says it lost is its to leave out.
	rec, err := audit.NewRecord(audit.KindState, r.ID, map[string]string{"from": string(Running), "to": string(Migrating), "reason": "site alpha lost: test"})
	if err != nil {
		t.Fatal(err)
	}
	rec.Tenant = "t1"
	if err := x.f.st.AppendAudit(ctx, rec); err != nil {
		t.Fatal(err)
	}
	exclude("alpha")
	if _, err := x.live.Step(ctx, r.ID); errors.Is(err, ErrRunChanged) {
		t.Errorf("a step of the held run excluding alpha, which it lost: %v", err)
	}
	// Taken off the list, alpha would be planned again: the list only
	// grows, so that is refused too.
	x.toState(Held, "", "", func(d map[string]json.RawMessage) { delete(d, "excluded") })
	if _, err := x.live.Step(ctx, r.ID); !errors.Is(err, ErrRunChanged) || !strings.Contains(err.Error(), `"alpha"`) {
		t.Errorf("a step of the held run no longer excluding alpha, which it lost: %v; want it refused as changed, naming alpha", err)
	}
}
