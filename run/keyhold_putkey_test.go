package run

import (
	"context"
	"testing"
	"time"

	"meridian.dev/meridian/policy"
)

// TestPutKeyBringsForwardRunsHeldForTheKey: a run held for its dataset's
// key (keyHeld) tried again only at its next try, which its backoff puts
// up to an hour away: once the tenant sent the key, the run still waited
// that long. PutKey now brings that try forward to now, and the run stages
// within seconds; a key of another dataset, or another tenant's, brings
// nothing forward.
func TestPutKeyBringsForwardRunsHeldForTheKey(t *testing.T) {
	ctx := context.Background()
	c, clk, file, r := keyHoldFixture(t)
	c.cfg.HoldRetry = time.Hour // the next try an hour away
	key, err := file.Get("corpus-c")
	if err != nil {
		t.Fatal(err)
	}
	if err := file.Remove("corpus-c"); err != nil {
		t.Fatal(err)
	}
	r = stepUntil(t, c, r.ID, 6, Planned, Staging)
	if r.State != Held || r.Hold == nil || !heldForKey(r, "corpus-c") {
		t.Fatalf("run with its dataset key missing: %s (%s); want held for the key of corpus-c", r.State, r.Reason)
	}
	next := r.Hold.NextTry
	if wait := next.Sub(clk.Now()); wait < 59*time.Minute {
		t.Fatalf("held run's next try in %s; want an hour", wait)
	}

	// Another tenant's key of a dataset of the same name, or this
	// tenant's key of another dataset, brings nothing forward.
	for _, o := range []struct{ tenant, name string }{{"t2", "corpus-c"}, {"t1", "corpus-d"}} {
		if n, err := c.retryKeyHolds(ctx, o.tenant, o.name); err != nil || n != 0 {
			t.Errorf("key of %s/%s brought %d runs forward (err %v); want none", o.tenant, o.name, n, err)
		}
		if got, _ := c.Get(ctx, "t1", r.ID); got.State != Held || got.Hold == nil || !got.Hold.NextTry.Equal(next) {
			t.Fatalf("after a key of %s/%s: run %s next try %v; want held until %s", o.tenant, o.name, got.State, got.Hold, next)
		}
	}

	if err := c.PutKey(ctx, "t1", "corpus-c", key.String()); err != nil {
		t.Fatal(err)
	}
	clk.set(clk.Now().Add(2 * time.Second))
	r = stepUntil(t, c, r.ID, 4, Held)
	r = stepUntil(t, c, r.ID, 8, Migrating, Planned, Staging)
	if r.State != Queued && r.State != Running && r.State != Succeeded {
		t.Fatalf("two seconds after the key was sent: %s (%s); want the run staged and submitted", r.State, r.Reason)
	}
	if r.Staged != r.Attempt {
		t.Errorf("run %s staged %d of attempt %d", r.State, r.Staged, r.Attempt)
	}
}

// TestHeldForKeyMatchesOnlyTheKeyHold: only a hold keyHeld wrote, for the
// run's attempt and site and the dataset named, is one a key sent brings
// forward: not a hold of the law, of room, or of failed stagings whose
// reason (a site's or a store's words) reads like one, nor another
// dataset's, nor a cancelled run's.
func TestHeldForKeyMatchesOnlyTheKeyHold(t *testing.T) {
	reason := keyHoldPrefix(2, "alpha", "corpus-c") + "the server holds no key of dataset corpus-c"
	key := func() *Run {
		return &Run{State: Held, Site: "alpha", Attempt: 2, Data: Data{Hold: &Hold{Reason: reason, Code: policy.CodeNotNow}}}
	}
	if !heldForKey(key(), "corpus-c") {
		t.Fatal("the key hold of corpus-c is not matched")
	}
	for name, change := range map[string]func(r *Run){
		"another dataset":  func(r *Run) { r.Hold.Reason = keyHoldPrefix(2, "alpha", "corpus-d") },
		"another attempt":  func(r *Run) { r.Attempt = 3 },
		"another site":     func(r *Run) { r.Site = "beta" },
		"failed stagings":  func(r *Run) { r.Hold.StageTries = 5 },
		"the law":          func(r *Run) { r.Hold.Code, r.Hold.Rule = policy.CodeDenied, "r1" },
		"room":             func(r *Run) { r.Hold.Wait = WaitCapacity },
		"cancelled":        func(r *Run) { r.CancelRequested = true },
		"not held":         func(r *Run) { r.State = Planned },
		"text mid-reason":  func(r *Run) { r.Hold.Reason = "staging attempt 2 to alpha: " + reason },
		"name as a prefix": func(r *Run) { r.Hold.Reason = keyHoldPrefix(2, "alpha", "corpus-c2") },
	} {
		r := key()
		change(r)
		if heldForKey(r, "corpus-c") {
			t.Errorf("%s: matched as held for the key of corpus-c", name)
		}
	}
}
