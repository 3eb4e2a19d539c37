package run

import (
	"context"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
)

// TestNoPlaceItMustLeaveAtOnce: rules already loaded make every site
// unlawful from tomorrow, within the move margin. The run leaves its site
// and is held; its retries do not release it to a site it would have to
// leave at once. They did: each retry planned as of today, found both sites
// lawful, released the run, started an attempt, saw the rule's margin
// passed, drained it and held it again, one new attempt per retry without
// end.
func TestNoPlaceItMustLeaveAtOnce(t *testing.T) {
	clk := &clock{t: time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)}
	e, rs := lawEnv(t, func(c *Config) {
		c.Now = clk.Now
		c.SiteTimeout = time.Hour
		c.HoldRetry = 20 * time.Millisecond
	})
	ctx := context.Background()
	r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(100000, 10)}})
	if err != nil {
		t.Fatal(err)
	}
	e.waitFor("a checkpoint", 30*time.Second, func(r *Run) bool { return r.Checkpoint != nil }, r.ID)
	both := []policy.File{denyPack("test-sg-from-11", "SG", "2026-06-11"), denyPack("test-my-from-11", "MY", "2026-06-11")}
	if _, _, err := rs.Apply(ctx, rules.Change{Files: both}, "admin", "test: both close tomorrow", clk.Now()); err != nil {
		t.Fatal(err)
	}
	e.c.Nudge()
	r = e.waitFor("held", 30*time.Second, func(r *Run) bool { return r.State == Held }, r.ID)
	// Many retries' worth of time, on the law's clock too (a minute each
	// tenth of a second, all of it on the 10th).
	for i := 0; i < 30; i++ {
		time.Sleep(100 * time.Millisecond)
		clk.set(clk.Now().Add(time.Minute))
		e.c.Nudge()
	}
	r, err = e.c.Get(ctx, "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	evs := kinds(lawEvents(t, e, r.ID))
	released := 0
	for _, k := range evs {
		if k == "released" {
			released++
		}
	}
	if r.State != Held || r.Attempt != 1 || released != 0 {
		t.Fatalf("after 3 s: %s at attempt %d, released %d times; timeline %v", r.State, r.Attempt, released, evs)
	}
	// The reason says when the rule that denies became law (the rule's
	// own date, not only the day the move was judged for).
	if r.Hold == nil || r.Hold.Code != policy.CodeDenied || !strings.Contains(r.Hold.Reason, "effective from 2026-06-11") {
		t.Errorf("hold %+v", r.Hold)
	}
	if r.Checkpoint == nil {
		t.Error("the checkpoint was not kept while held")
	}
	e.c.Cancel(ctx, "t1", r.ID)
	e.waitFor("cancelled", 30*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
}
