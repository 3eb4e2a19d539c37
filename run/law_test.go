package run

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/store"
)

// denyPack is a rule pack that makes every site in country unlawful from
// day on.
func denyPack(id, country, day string) policy.File {
	return policy.File{Name: id + ".yaml", Data: []byte(fmt.Sprintf(`apiVersion: meridian.dev/v1alpha1
kind: RulePack
metadata: {name: %[1]s}
rules:
  - id: %[1]s
    title: No training in %[2]s
    jurisdiction: ORG
    kind: org-policy
    effect: deny
    effectiveFrom: %[3]s
    enforcement: in-force
    confidence: confirmed
    sources: ["test pack of run/law_test.go"]
    message: site {site.name} is in {site.country}
    condition: "site.country == '%[2]s'"
`, id, country, day))}
}

// clock is a test clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// lawEnv is newEnv with the real planner and the law as server state.
func lawEnv(t testing.TB, mod func(*Config)) (*env, *rules.State) {
	t.Helper()
	var rs *rules.State
	e := newEnv(t, func(c *Config) {
		var err error
		rs, err = rules.Open(context.Background(), c.Store, nil)
		if err != nil {
			t.Fatal(err)
		}
		law := rs.Law()
		c.Plan = func(ctx context.Context, w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
			return planner.Make(w, job, planner.Options{AsOf: asOf, ExcludeSites: exclude, Rules: law})
		}
		c.LawNow = func() LawNow {
			cur := rs.Current()
			return LawNow{Rev: cur.Rev, Law: planner.PolicyLaw(cur.Engine), Transfer: cur.Engine, Dates: cur.Dates}
		}
		c.Stager.Law = rs
		c.DrainGrace = 20 * time.Second
		if mod != nil {
			mod(c)
		}
	})
	return e, rs
}

func lawEvents(t *testing.T, e *env, id string) []store.Event {
	t.Helper()
	evs, err := e.c.Events(context.Background(), "t1", id)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// TestRuleChangeMovesRun: a revision that makes the run's site unlawful
// moves the running run: it checkpoints, stops, re-plans under the new law
// and resumes elsewhere from that checkpoint; the audit log names the
// revision.
func TestRuleChangeMovesRun(t *testing.T) {
	e, rs := lawEnv(t, nil)
	ctx := context.Background()
	r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(600, 10)}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Site != "alpha" {
		t.Fatalf("placed at %s, want alpha (SG), the cheaper", r.Site)
	}
	r = e.waitFor("a checkpoint", 30*time.Second, func(r *Run) bool { return r.Checkpoint != nil && r.Checkpoint.Step >= 20 }, r.ID)
	cur, _, err := rs.Apply(ctx, rules.Change{Files: []policy.File{denyPack("test-no-sg", "SG", "2020-01-01")}}, "admin", "test: Singapore closed", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	applied := time.Now()
	e.c.Nudge()
	r = e.waitFor("running elsewhere", 30*time.Second, func(r *Run) bool {
		return r.Site == "bravo" && (r.State == Running || r.State == Checkpointed || r.State.Final())
	}, r.ID)
	t.Logf("revision %d to running at bravo: %s", cur.Rev, time.Since(applied).Round(time.Millisecond))
	r = e.waitFor("the end", 60*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
	if r.State != Succeeded || r.Site != "bravo" || r.Attempt != 2 {
		t.Fatalf("ended %s at %s attempt %d: %s", r.State, r.Site, r.Attempt, r.Reason)
	}
	evs := lawEvents(t, e, r.ID)
	var move *store.Event
	for i := range evs {
		if evs[i].Kind == "law-move" {
			move = &evs[i]
		}
	}
	if move == nil {
		t.Fatalf("no law-move event: %v", kinds(evs))
	}
	var data struct {
		Rule     string
		Revision int64
	}
	json.Unmarshal([]byte(move.Data), &data)
	if data.Rule != "test-no-sg" || data.Revision != cur.Rev || !strings.Contains(move.Reason, "revision 1") {
		t.Errorf("law-move event %+v", move)
	}
	// The move resumed from a checkpoint the drained attempt made.
	for _, want := range []string{"drained", "checkpoint-moved", "replanned"} {
		if !contains(kinds(evs), want) {
			t.Errorf("timeline %v lacks %s", kinds(evs), want)
		}
	}
	if ck := e.finalCheckpoint(r); ck.Step != 600 {
		t.Errorf("final checkpoint at step %d", ck.Step)
	}
	logs, _ := e.c.Logs(ctx, "t1", r.ID)
	if !strings.Contains(string(logs), "resume step=") {
		t.Errorf("attempt 2 did not resume from a checkpoint:\n%s", tailText(logs, 2000))
	}
	// The audit log records the revision and the law check it caused.
	es, _ := e.st.AuditEntries(ctx, "")
	var sawRevision, sawCheck bool
	for _, a := range es {
		sawRevision = sawRevision || a.Kind == rules.KindRevision
		if a.Kind == KindLawCheck && strings.Contains(string(a.Payload), r.ID) && strings.Contains(string(a.Payload), `"revision":1`) {
			sawCheck = true
		}
	}
	if !sawRevision || !sawCheck {
		t.Errorf("audit: revision %v, law check naming the run %v", sawRevision, sawCheck)
	}
	if v, err := e.st.VerifyAudit(ctx); err != nil || !v.OK {
		t.Errorf("audit: %+v %v", v, err)
	}
}

func tailText(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// TestDatedRuleMovesBeforeDate: a rule already loaded that makes the site
// unlawful from a future day moves the run before that day, by the
// margin, to a site that stays lawful then; with an injected clock.
func TestDatedRuleMovesBeforeDate(t *testing.T) {
	clk := &clock{t: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	e, rs := lawEnv(t, func(c *Config) { c.Now = clk.Now; c.SiteTimeout = time.Hour })
	ctx := context.Background()
	if _, _, err := rs.Apply(ctx, rules.Change{Files: []policy.File{denyPack("test-sg-from-june-11", "SG", "2026-06-11")}}, "admin", "test: known in advance", clk.Now()); err != nil {
		t.Fatal(err)
	}
	r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(100000, 10)}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Site != "alpha" || r.Law == nil || r.Law.LawfulUntil != "2026-06-11" || r.Law.UntilRule != "test-sg-from-june-11" {
		t.Fatalf("placed at %s with law %+v, want alpha lawful until 2026-06-11", r.Site, r.Law)
	}
	if want := time.Date(2026, 6, 10, 0, 0, 0, 0, time.UTC); !r.Law.MoveBy.Equal(want) {
		t.Errorf("moves by %s, want %s (24 h before the rule)", r.Law.MoveBy, want)
	}
	r = e.waitFor("running", 30*time.Second, func(r *Run) bool { return r.Checkpoint != nil }, r.ID)
	// A day before the margin nothing happens.
	clk.set(time.Date(2026, 6, 9, 12, 0, 0, 0, time.UTC))
	e.c.Nudge()
	time.Sleep(300 * time.Millisecond) // let the loop look at it; the assertion is that it did not move
	if r, _ = e.c.Get(ctx, "t1", r.ID); r.Site != "alpha" || r.State == Migrating {
		t.Fatalf("moved too early: %s at %s", r.State, r.Site)
	}
	// Past the margin (2026-06-10T00:00Z), it leaves for a site lawful on the 11th.
	clk.set(time.Date(2026, 6, 10, 0, 1, 0, 0, time.UTC))
	e.c.Nudge()
	r = e.waitFor("moved", 30*time.Second, func(r *Run) bool { return r.Site == "bravo" && (r.State == Running || r.State == Checkpointed) }, r.ID)
	evs := lawEvents(t, e, r.ID)
	found := false
	for _, ev := range evs {
		if ev.Kind == "law-move" && strings.Contains(ev.Reason, "from 2026-06-11") {
			found = true
		}
	}
	if !found {
		t.Errorf("no law-move naming the rule's date: %v", evs)
	}
	if r.Law == nil || r.Law.LawfulUntil != "" {
		t.Errorf("at bravo the law should end nothing: %+v", r.Law)
	}
	e.c.Cancel(ctx, "t1", r.ID)
	e.waitFor("cancelled", 30*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
}

// TestNoLawfulPlaceHoldsThenReleases: when a revision leaves no lawful
// placement anywhere, the run stops and is held with the rule; a later
// revision that lifts it lets the run go on, from its checkpoint.
func TestNoLawfulPlaceHoldsThenReleases(t *testing.T) {
	e, rs := lawEnv(t, func(c *Config) { c.HoldRetry = 100 * time.Millisecond })
	ctx := context.Background()
	r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(600, 10)}})
	if err != nil {
		t.Fatal(err)
	}
	e.waitFor("a checkpoint", 30*time.Second, func(r *Run) bool { return r.Checkpoint != nil && r.Checkpoint.Step >= 20 }, r.ID)
	both := []policy.File{denyPack("test-no-sg", "SG", "2020-01-01"), denyPack("test-no-my", "MY", "2020-01-01")}
	if _, _, err := rs.Apply(ctx, rules.Change{Files: both}, "admin", "test: close both", time.Now()); err != nil {
		t.Fatal(err)
	}
	e.c.Nudge()
	r = e.waitFor("held", 30*time.Second, func(r *Run) bool { return r.State == Held }, r.ID)
	if r.Hold == nil || r.Hold.Code != policy.CodeDenied || !strings.HasPrefix(r.Hold.Rule, "test-no-") || r.Hold.Revision != 1 {
		t.Fatalf("hold %+v", r.Hold)
	}
	held := r.Checkpoint
	if _, _, err := rs.Apply(ctx, rules.Change{Remove: []string{"test-no-my.yaml"}}, "admin", "test: Malaysia open again", time.Now()); err != nil {
		t.Fatal(err)
	}
	e.c.Nudge()
	r = e.waitFor("the end", 60*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
	if r.State != Succeeded || r.Site != "bravo" {
		t.Fatalf("after release: %s at %s: %s", r.State, r.Site, r.Reason)
	}
	evs := kinds(lawEvents(t, e, r.ID))
	for _, want := range []string{"law-move", "held", "state:held", "released", "checkpoint-moved"} {
		if !contains(evs, want) {
			t.Errorf("timeline %v lacks %s", evs, want)
		}
	}
	if held == nil {
		t.Error("no checkpoint was kept while held")
	}
}

// TestLawCheckRecordedOncePerRevision: the controller's law check runs once
// per revision (and per day the law changes), not on every tick, and
// survives a restart.
func TestLawCheckRecordedOncePerRevision(t *testing.T) {
	e, rs := lawEnv(t, nil)
	ctx := context.Background()
	count := func() int {
		es, _ := e.st.AuditEntries(ctx, "")
		n := 0
		for _, a := range es {
			if a.Kind == KindLawCheck {
				n++
			}
		}
		return n
	}
	// The first check is the loop's first tick's: a loaded machine took
	// more than the 200 ms this waited for it, and found none. Once it is
	// recorded, several ticks more must record no other.
	deadline := time.Now().Add(10 * time.Second)
	for count() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // several ticks
	if n := count(); n != 1 {
		t.Fatalf("%d law checks after start, want 1", n)
	}
	if _, _, err := rs.Apply(ctx, rules.Change{Files: []policy.File{denyPack("test-no-us", "US", "2020-01-01")}}, "admin", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	e.c.Nudge()
	deadline = time.Now().Add(10 * time.Second)
	for count() != 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if n := count(); n != 2 {
		t.Fatalf("%d law checks after one revision, want 2", n)
	}
	// A new controller on the same store does not check again.
	c2 := New(e.c.cfg)
	c2.lawTick(ctx)
	if n := count(); n != 2 {
		t.Errorf("a restarted controller re-checked: %d law checks", n)
	}
	var last audit.Entry
	es, _ := e.st.AuditEntries(ctx, "")
	for _, a := range es {
		if a.Kind == KindLawCheck {
			last = a
		}
	}
	if !strings.Contains(string(last.Payload), `"revision":1`) {
		t.Errorf("last law check %s", last.Payload)
	}
}
