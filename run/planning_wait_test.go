package run

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestSubmitWaitsBesidePlanningSites: a run whose only runnable site is
// full waits for it (held, waiting for capacity) although sites for
// planning only still have lawful placements for it, as a held run's retry
// already did; it was refused (422) as if no site could ever run it,
// saying only that its placements were at sites without a backend. On a
// server with the built-in catalog and a local site, every second run
// submitted while the first held the local site was refused so. Once the
// first run ends, the admission loop admits the waiting one to the runnable
// site. A run that its constraints (or the law) keep from the runnable site
// is still refused, and the refusal now says why; so is one that only a
// full planning site could take, which was held for room that no run of
// this server would ever be given.
func TestSubmitWaitsBesidePlanningSites(t *testing.T) {
	e := newBatchEnvAt(t, "testdata/planning-sites")
	first := e.submit("t1", batchJob("first", 1e9), 0, Planned)
	if first.Site != "ca" && (first.Migration == nil || first.Migration.Target == nil || first.Migration.Target.Site != "ca") {
		t.Fatalf("first run placed at %q, %+v; want the runnable site ca", first.Site, first.Migration)
	}
	second := e.submit("t1", batchJob("second", 1e9), 0, Held)
	if second.Hold == nil || second.Hold.Wait != WaitCapacity {
		t.Fatalf("second run: hold %+v, want a wait for capacity", second.Hold)
	}
	if !strings.Contains(second.Hold.Reason, "ca") {
		t.Errorf("second run's reason does not name the full site ca: %s", second.Hold.Reason)
	}
	e.end(first.ID)
	if st := e.admit(); st.Admitted != 1 {
		t.Fatalf("after the first run ended: %+v, want the second admitted", st)
	}
	if r := e.get(second.ID); r.State == Held || r.Migration == nil || r.Migration.Target == nil || r.Migration.Target.Site != "ca" {
		t.Fatalf("second run after admission: %s at %+v", r.State, r.Migration)
	}

	// Only the planning sites allowed: nothing can ever run it here, and
	// the full one (cz) is no reason to wait.
	_, _, err := e.c.Submit(context.Background(), "t1", SubmitRequest{Documents: []Document{batchJob("planning-only", 1e9, "cp", "cz")}})
	if err == nil || !strings.Contains(err.Error(), "no configured backend") || !strings.Contains(err.Error(), "at runnable site ca: constraint") {
		t.Fatalf("a job allowed only at planning sites: %v, want a refusal saying so and why the runnable site ca was rejected", err)
	}
	// Only the full planning site: no placement at all, and still no
	// reason to wait (it was held, for ever).
	if r, _, err := e.c.Submit(context.Background(), "t1", SubmitRequest{Documents: []Document{batchJob("full-planning", 1e9, "cz")}}); err == nil {
		t.Fatalf("a job allowed only at a full planning site: %s (%s), want a refusal", r.State, r.Reason)
	}
}

// TestSubmitWaitsForARunnableSiteThatIsDown: the only runnable site failing
// the server's check (its scheduler cannot take work now) is a reason to
// wait, as it is when the plan has no placement at all: with placements at
// sites for planning only beside it, the run was refused. What it waits
// for names no pool at a planning site.
func TestSubmitWaitsForARunnableSiteThatIsDown(t *testing.T) {
	e := newBatchEnvAt(t, "testdata/planning-sites")
	e.c.mu.Lock()
	if e.c.siteDown == nil {
		e.c.siteDown = map[string]error{}
	}
	e.c.siteDown["ca"] = errors.New("test: the scheduler does not answer")
	e.c.mu.Unlock()
	r, _, err := e.c.Submit(context.Background(), "t1", SubmitRequest{Documents: []Document{batchJob("while-down", 1e9)}})
	if err != nil {
		t.Fatalf("a job whose runnable site is down: %v, want it held", err)
	}
	if r.State != Held {
		t.Fatalf("a job whose runnable site is down: %s (%s), want held", r.State, r.Reason)
	}
	for _, wt := range r.Hold.Wants {
		if wt.Site != "ca" {
			t.Errorf("the held run waits for %s pool %d, at a site for planning only", wt.Site, wt.Pool)
		}
	}
}
