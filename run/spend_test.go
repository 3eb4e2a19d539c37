package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/local"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/estimate"
	"meridian.dev/meridian/internal/testplan"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/transfer"
)

// TestClockAttempt: an attempt's time starts when the run first holds its
// pool and ends when it no longer does, a drain ending it only once
// drained, and an attempt a later one replaced always ends.
func TestClockAttempt(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	at := func(h float64) time.Time { return t0.Add(time.Duration(h * float64(time.Hour))) }
	r := &Run{State: Queued, Attempt: 1}
	r.Attempts = []Attempt{{N: 1, Site: "a", Count: 8, PricePerHour: 2}}
	step := func(to State, h float64) {
		from := r.State
		r.State = to
		clockAttempt(r, from, at(h))
	}
	step(Queued, 0.5) // not yet holding the pool
	step(Running, 1)
	step(Checkpointed, 2) // still holding: the start stays
	if got := r.Attempts[0].Started; !got.Equal(at(1)) || !r.Attempts[0].Ended.IsZero() {
		t.Fatalf("after running: started %v ended %v", got, r.Attempts[0].Ended)
	}
	// A move with a drain: the workload runs until drained.
	r.Migration = &Migration{Drain: true}
	step(Migrating, 3)
	if !r.Attempts[0].Ended.IsZero() {
		t.Fatalf("ended at %v while draining", r.Attempts[0].Ended)
	}
	r.Migration.Drain = false
	step(Migrating, 3.5)
	if got := r.Attempts[0].Ended; !got.Equal(at(3.5)) {
		t.Fatalf("ended %v, want when drained (%v)", got, at(3.5))
	}
	// Attempt 2 runs and is replaced by attempt 3 without a stop in
	// between being recorded: it ends when 3 begins.
	r.Attempt = 2
	r.Attempts = append(r.Attempts, Attempt{N: 2, Site: "b", Count: 4, PricePerHour: 1})
	step(Staging, 4)
	step(Running, 5)
	r.Attempt = 3
	r.Attempts = append(r.Attempts, Attempt{N: 3, Site: "c", Count: 1, PricePerHour: 10})
	step(Staging, 6)
	if got := r.Attempts[1].Ended; !got.Equal(at(6)) {
		t.Fatalf("attempt 2 ended %v, want %v", got, at(6))
	}
	s := r.Spent(at(7))
	// Attempt 1: 2.5 h × 8 × $2 = $40; attempt 2: 1 h × 4 × $1 = $4;
	// attempt 3 never ran. Six hours have passed since attempt 1 started,
	// the time between the attempts included.
	if want := (Spend{Hours: 3.5, AcceleratorHours: 24, USD: 44, Elapsed: 6}); s != want {
		t.Errorf("spent %+v, want %+v", s, want)
	}
	step(Running, 7)
	if s := r.Spent(at(7.5)); s.USD != 49 || s.Hours != 4 {
		t.Errorf("with attempt 3 running half an hour: %+v, want $49 over 4 h", s)
	}
}

// TestRemaining: a re-plan plans the work after the checkpoint, the budget
// less the attempts' cost and the deadline less their hours, is judged on
// the whole job's compute, and refuses a used-up budget or deadline.
func TestRemaining(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	job := &catalog.TrainingJob{}
	job.Spec.Model.Parameters = 1e9
	job.Spec.Tokens = 1e10
	job.Spec.BudgetUSD = 1000
	job.Spec.Deadline = catalog.Duration(48 * time.Hour)
	r := &Run{Attempt: 1, Data: Data{
		Attempts:   []Attempt{{N: 1, Count: 8, PricePerHour: 10, Started: t0, Ended: t0.Add(5 * time.Hour)}},
		Checkpoint: &Checkpoint{Step: 300, Name: "ck-300"},
		Progress:   &Progress{Step: 310, Steps: 1000},
	}}
	done := doneShare(r)
	if done != 0.3 {
		t.Fatalf("done %v, want 0.3", done)
	}
	left, why, err := remaining(job, r, t0.Add(6*time.Hour), done)
	if err != nil {
		t.Fatal(err)
	}
	// Six hours since the attempt started, one of them after it ended:
	// the deadline counts both, the budget only the five it ran.
	if left.Spec.Tokens != 7e9 || left.Spec.BudgetUSD != 600 || left.Spec.Deadline.D() != 42*time.Hour {
		t.Errorf("left: tokens %g, budget %g, deadline %s; want 7e9, 600, 42h", left.Spec.Tokens, left.Spec.BudgetUSD, left.Spec.Deadline)
	}
	if whole := estimate.TrainingFLOPs(&job.Spec); left.Spec.LawFLOPs != whole || job.Spec.Tokens != 1e10 || job.Spec.LawFLOPs != 0 {
		t.Errorf("law compute %g, want the whole job's %g; the job itself must not change (tokens %g)", left.Spec.LawFLOPs, whole, job.Spec.Tokens)
	}
	for _, want := range []string{"70 % of the work", "step 300 of 1000", "budget $600 of $1000", "deadline 42.0 hours of 2d"} {
		if !strings.Contains(why, want) {
			t.Errorf("why %q lacks %q", why, want)
		}
	}
	// A restart plans the whole work; a checkpoint past the reported end
	// still leaves one step.
	r.Migration = &Migration{Restart: true}
	if d := doneShare(r); d != 0 {
		t.Errorf("restart: done %v", d)
	}
	r.Migration = nil
	r.Checkpoint.Step = 5000
	if d := doneShare(r); d != 0.999 {
		t.Errorf("checkpoint past the end: done %v, want 0.999", d)
	}
	r.Progress.Steps = 0
	if d := doneShare(r); d != 0 {
		t.Errorf("no length reported: done %v", d)
	}
	// Held after the attempt: a day on hold costs nothing but uses the
	// deadline. A clock stepped back before the attempt's end still counts
	// the hours it ran.
	if left, _, err := remaining(job, r, t0.Add(30*time.Hour), 0); err != nil {
		t.Errorf("after a day held: %v", err)
	} else if left.Spec.BudgetUSD != 600 || left.Spec.Deadline.D() != 18*time.Hour {
		t.Errorf("after a day held: budget %g, deadline %s; want 600, 18h", left.Spec.BudgetUSD, left.Spec.Deadline)
	}
	if left, _, err := remaining(job, r, t0.Add(time.Hour), 0); err != nil {
		t.Errorf("clock before the attempt's end: %v", err)
	} else if left.Spec.Deadline.D() != 43*time.Hour {
		t.Errorf("clock before the attempt's end: deadline %s, want 43h", left.Spec.Deadline)
	}
	if _, _, err := remaining(job, r, t0.Add(48*time.Hour), 0); !isSpent(err, "48.0 hours have passed since the run was submitted (5.0 of them running)") {
		t.Errorf("deadline passed while held: %v", err)
	}
	// A run that waited ten hours for room before it ever started: the
	// wait counts against its deadline, not its budget.
	waited := &Run{Data: Data{Submitted: t0}}
	if left, why, err := remaining(job, waited, t0.Add(10*time.Hour), 0); err != nil {
		t.Errorf("after ten hours waiting: %v", err)
	} else if left.Spec.BudgetUSD != 1000 || left.Spec.Deadline.D() != 38*time.Hour || !strings.Contains(why, "deadline 38.0 hours of 2d left") {
		t.Errorf("after ten hours waiting: budget %g, deadline %s (%s); want 1000, 38h", left.Spec.BudgetUSD, left.Spec.Deadline, why)
	}
	// Used up: the budget, then the deadline.
	r.Attempts[0].Ended = t0.Add(12*time.Hour + 30*time.Minute) // $1,000
	if _, _, err := remaining(job, r, t0, 0); !isSpent(err, "budget of $1000 is spent") {
		t.Errorf("budget used up: %v", err)
	}
	job.Spec.BudgetUSD = 0
	r.Attempts[0].Ended = t0.Add(48 * time.Hour)
	if _, _, err := remaining(job, r, t0, 0); !isSpent(err, "deadline of 2d is used up") {
		t.Errorf("deadline used up: %v", err)
	}
}

func isSpent(err error, want string) bool {
	var se *spentError
	return errors.As(err, &se) && strings.Contains(se.msg, want)
}

// TestReplanPlansWhatIsLeft: after a site is lost, the re-plan is asked for
// the work the moved checkpoint leaves, within the budget and deadline the
// first attempt left, and judged on the whole job's compute; the run
// finishes at the new site and says what it used.
func TestReplanPlansWhatIsLeft(t *testing.T) {
	var mu sync.Mutex
	var asked []catalog.TrainingJobSpec
	e := newEnv(t, func(c *Config) {
		c.Plan = func(ctx context.Context, w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
			mu.Lock()
			asked = append(asked, job.Spec)
			mu.Unlock()
			return testplan.Cheapest(ctx, w, job, asOf, exclude)
		}
	})
	ctx := context.Background()
	r := e.loseAfterCheckpoint("  budgetUSD: 100\n  deadline: 1d\n")
	if r.State != Succeeded || r.Site != "bravo" {
		t.Fatalf("ended %s at %s: %s", r.State, r.Site, r.Reason)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) < 2 {
		t.Fatalf("%d plans, want the submission's and the re-plan's", len(asked))
	}
	first, again := asked[0], asked[len(asked)-1]
	if first.Tokens != 1e6 || first.BudgetUSD != 100 || first.LawFLOPs != 0 {
		t.Errorf("first plan: %+v", first)
	}
	a1 := r.Attempts[0]
	if a1.Started.IsZero() || !a1.Ended.After(a1.Started) || a1.Count != 8 || a1.PricePerHour != 1 {
		t.Fatalf("attempt 1 not clocked: %+v", a1)
	}
	// The re-plan's numbers, from what the run recorded of attempt 1.
	if again.Tokens >= 1e6*(1-20.0/60)+1 || again.Tokens < 1e6/60 {
		t.Errorf("re-plan tokens %g, want the work after a checkpoint at step 20 or later of 60", again.Tokens)
	}
	if again.LawFLOPs != estimate.TrainingFLOPs(&first) {
		t.Errorf("re-plan judged on %g FLOP, want the whole job's %g", again.LawFLOPs, estimate.TrainingFLOPs(&first))
	}
	if again.BudgetUSD >= 100 || again.BudgetUSD <= 99 || again.Deadline >= first.Deadline || again.Deadline.D() < 23*time.Hour {
		t.Errorf("re-plan budget %g, deadline %s: want a little less than $100 and 1d", again.BudgetUSD, again.Deadline)
	}
	evs, _ := e.c.Events(ctx, "t1", r.ID)
	found := false
	for _, ev := range evs {
		if ev.Kind == "replanned" && strings.Contains(ev.Reason, "planned for what is left") && strings.Contains(ev.Reason, "of 60") {
			found = true
		}
	}
	if !found {
		t.Errorf("no replanned event says what was left: %v", kinds(evs))
	}
	if s := r.Spent(time.Now()); s.AcceleratorHours <= 0 || s.USD <= 0 || len(r.Attempts) != 2 || r.Attempts[1].Ended.IsZero() {
		t.Errorf("spent %+v over attempts %+v", s, r.Attempts)
	}
}

// TestSpentBudgetEndsRun: a run whose attempts used up its budget is not
// placed again after a loss: it fails, saying so.
func TestSpentBudgetEndsRun(t *testing.T) {
	e := newEnv(t, nil)
	// 8 accelerators at $1 an hour spend $0.0005 in 0.23 s; a checkpoint at
	// step 20 takes 0.3 s of 15 ms steps.
	r := e.loseAfterCheckpoint("  budgetUSD: 0.0005\n")
	if r.State != Failed || !strings.Contains(r.Reason, "budget of $0.0005 is spent") || !strings.Contains(r.Reason, "last checkpoint: step") {
		t.Fatalf("ended %s: %s", r.State, r.Reason)
	}
	if e.found("bravo", r.ID, 2) {
		t.Error("attempt 2 was launched at bravo")
	}
}

// TestReplanRestartsWhenCheckpointStays: when the checkpoint cannot go to
// the site chosen for the work left after it (here no stager can carry
// it), the whole job is planned again before the run starts over there.
func TestReplanRestartsWhenCheckpointStays(t *testing.T) {
	var mu sync.Mutex
	var tokens []float64
	e := newEnv(t, func(c *Config) {
		c.Stager = nil
		c.Plan = func(ctx context.Context, w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
			mu.Lock()
			tokens = append(tokens, job.Spec.Tokens)
			mu.Unlock()
			return testplan.Cheapest(ctx, w, job, asOf, exclude)
		}
	})
	ctx := context.Background()
	r := e.loseAfterCheckpoint("")
	if r.State != Succeeded || r.Site != "bravo" || r.Attempt != 2 {
		t.Fatalf("ended %s at %s attempt %d: %s", r.State, r.Site, r.Attempt, r.Reason)
	}
	mu.Lock()
	defer mu.Unlock()
	// The submission's plan, the re-plan of the work left, and the re-plan
	// of the whole job once the checkpoint stayed.
	if n := len(tokens); n < 3 || tokens[0] != 1e6 || tokens[n-2] >= 1e6 || tokens[n-1] != 1e6 {
		t.Errorf("plans asked for %v tokens, want 1e6, then less, then 1e6 again", tokens)
	}
	evs, _ := e.c.Events(ctx, "t1", r.ID)
	found := false
	for _, ev := range evs {
		found = found || (ev.Kind == "replanned" && strings.Contains(ev.Reason, "whole job is planned again") && strings.Contains(ev.Reason, "no stager"))
	}
	if !found {
		t.Errorf("no event says the whole job is planned again: %v", kinds(evs))
	}
}

// TestReplanRestartHeldStaysWhole: a run whose checkpoint could not follow
// the re-plan of the work left, and whose whole job then has no placement,
// is held for the whole job: its retries do not plan the work left again
// (which would place it, fail to move the checkpoint and hold it again,
// without end, at the first retry's pace).
func TestReplanRestartHeldStaysWhole(t *testing.T) {
	var refuseWhole atomic.Bool
	var mu sync.Mutex
	var tokens []float64
	e := newEnv(t, func(c *Config) {
		c.Stager = nil
		c.HoldRetry = 20 * time.Millisecond
		c.Plan = func(ctx context.Context, w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
			mu.Lock()
			tokens = append(tokens, job.Spec.Tokens)
			mu.Unlock()
			if refuseWhole.Load() && job.Spec.Tokens >= 1e6 {
				return &planner.Plan{}, nil // the whole job fits nowhere now
			}
			return testplan.Cheapest(ctx, w, job, asOf, exclude)
		}
	})
	ctx := context.Background()
	r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(60, 10)}})
	if err != nil {
		t.Fatal(err)
	}
	e.waitFor("a checkpoint", 20*time.Second, func(r *Run) bool { return r.Checkpoint != nil && r.Checkpoint.Step >= 20 }, r.ID)
	refuseWhole.Store(true)
	e.failSite("alpha")
	e.waitFor("held", 30*time.Second, func(r *Run) bool { return r.State == Held }, r.ID)
	// Many retries' worth of time.
	time.Sleep(time.Second)
	r, err = e.c.Get(ctx, "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	evs, _ := e.c.Events(ctx, "t1", r.ID)
	released, restarts := 0, 0
	for _, ev := range evs {
		if ev.Kind == "released" {
			released++
		}
		if ev.Kind == "replanned" && strings.Contains(ev.Reason, "whole job is planned again") {
			restarts++
		}
	}
	if r.State != Held || released != 0 || restarts != 1 {
		t.Errorf("run %s, released %d times, restarted %d times (want held, 0, 1): %v", r.State, released, restarts, kinds(evs))
	}
	mu.Lock()
	defer mu.Unlock()
	if n := len(tokens); tokens[n-1] != 1e6 {
		t.Errorf("the held run's last plan asked for %g tokens, want the whole job's 1e6", tokens[n-1])
	}
}

// TestReclaimSpentBorrower: a borrower whose attempts used up its budget
// (its estimate was small, its workload runs on) still gives lent quota
// back at its checkpoint: a used-up budget does not make a run impossible
// to preempt. It then ends at its re-plan, saying its budget is spent.
func TestReclaimSpentBorrower(t *testing.T) {
	quotas := testQuotas(t, "quotas.yaml", reclaimQuotas)
	e := newEnv(t, func(c *Config) {
		c.CatalogDir = "testdata/fleet-sites"
		c.HoldRetry = 50 * time.Millisecond
		c.Quotas = quotas
	})
	doc := pinnedJob("borrower", 4000, 10)
	// 8 accelerators at $1 an hour spend $0.0001 in 45 ms.
	doc.Content = strings.Replace(doc.Content, "  tokens: 1.0e6\n", "  tokens: 1.0e6\n  budgetUSD: 0.0001\n", 1)
	// The borrower alone would hold the quota for a minute.
	b, _ := e.lendThenReclaim(doc)
	b = e.waitForTenant("t2", "the borrower's end", 30*time.Second, func(r *Run) bool { return r.State.Final() }, b.ID)
	if b.State != Failed || !strings.Contains(b.Reason, "budget of $0.0001 is spent") {
		t.Fatalf("borrower ended %s: %s", b.State, b.Reason)
	}
}

// TestRemainingBounds: what the workload reports (its length in steps,
// its checkpoint's step) and what the attempts ran cannot make the job
// left one the loader would refuse: at least one token is left however
// near the end the checkpoint claims to be, and hours beyond what a
// time.Duration holds use the deadline up rather than wrap around.
func TestRemainingBounds(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	job := &catalog.TrainingJob{}
	job.Spec.Model.Parameters = 1e9
	job.Spec.Tokens = 1e10
	job.Spec.Deadline = catalog.Duration(48 * time.Hour)
	r := &Run{Attempt: 1, Data: Data{
		Checkpoint: &Checkpoint{Step: math.MaxInt64 - 1, Name: "ck"},
		Progress:   &Progress{Step: math.MaxInt64 - 1, Steps: math.MaxInt64},
	}}
	left, _, err := remaining(job, r, t0, doneShare(r))
	if err != nil {
		t.Fatal(err)
	}
	if left.Spec.Tokens < 1 || estimate.TrainingFLOPs(&left.Spec) <= 0 {
		t.Errorf("a checkpoint one step before the end of %d steps leaves %g tokens", r.Progress.Steps, left.Spec.Tokens)
	}
	// Two attempts of two centuries each: more than a Duration holds.
	long := func(n int) Attempt {
		s := t0.AddDate(-400+200*n, 0, 0)
		return Attempt{N: n + 1, Count: 1, Started: s, Ended: s.AddDate(200, 0, 0)}
	}
	r = &Run{Attempt: 2, Data: Data{Attempts: []Attempt{long(0), long(1)}}}
	if _, _, err := remaining(job, r, t0, 0); !isSpent(err, "deadline of 2d is used up") {
		t.Errorf("four centuries against a deadline of 2 days: %v", err)
	}
}

// TestAttemptJSONOmitsUnsetTimes: an attempt that has not held its pool,
// or holds it still, says nothing of when it started or ended (not year 1).
func TestAttemptJSONOmitsUnsetTimes(t *testing.T) {
	b, err := json.Marshal(Attempt{N: 1, Site: "a", Count: 8, PricePerHour: 2, Started: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); !strings.Contains(s, `"started":"2026-12-01T00:00:00Z"`) || strings.Contains(s, `"ended"`) {
		t.Errorf("a running attempt's JSON: %s", s)
	}
	b, _ = json.Marshal(Attempt{N: 2, Site: "b"})
	if s := string(b); strings.Contains(s, `"started"`) || strings.Contains(s, `"ended"`) || strings.Contains(s, `"submitted"`) {
		t.Errorf("an attempt that has not run: %s", s)
	}
}

// loseAfterCheckpoint submits a 60-step job for tenant t1 with spec lines
// added after its tokens, loses site alpha once a checkpoint at step 20 or
// later is on record, and returns the run once it has ended.
func (e *env) loseAfterCheckpoint(spec string) *Run {
	e.t.Helper()
	doc := jobDoc(60, 10)
	doc.Content = strings.Replace(doc.Content, "  tokens: 1.0e6\n", "  tokens: 1.0e6\n"+spec, 1)
	r, _, err := e.c.Submit(context.Background(), "t1", SubmitRequest{Documents: []Document{doc}})
	if err != nil {
		e.t.Fatal(err)
	}
	e.waitFor("a checkpoint", 20*time.Second, func(r *Run) bool { return r.Checkpoint != nil && r.Checkpoint.Step >= 20 }, r.ID)
	e.failSite("alpha")
	r = e.waitFor("the end", 30*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
	return r
}

// TestSiteClockClamps: the times a site reports for an attempt's job count
// only within the controller's bounds: a start not before the attempt was
// submitted (nor before the previous attempt ended), an end not after
// now; a start after now or after the site's own end is not taken, nor
// the end with it; and they only ever move the controller's own stamps
// earlier. A hostile site cannot make the attempt
// count more than the wall time since it was submitted.
func TestSiteClockClamps(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	at := func(h float64) time.Time { return t0.Add(time.Duration(h * float64(time.Hour))) }
	zero := time.Time{}
	// A run whose attempt 2 was submitted at hour 10, after attempt 1
	// ended at hour 9; it reports at hour 12, what the site says of the
	// job's start and end.
	fresh := func(state State) *Run {
		r := &Run{State: state, Attempt: 2}
		r.Attempts = []Attempt{
			{N: 1, Count: 1, PricePerHour: 1, Submitted: at(0), Started: at(1), Ended: at(9)},
			{N: 2, Count: 1, PricePerHour: 1, Submitted: at(10)},
		}
		return r
	}
	tests := []struct {
		name               string
		state              State
		started, ended     time.Time
		wantStart, wantEnd time.Time
	}{
		{"honest", Succeeded, at(10.5), at(11.5), at(10.5), at(11.5)},
		{"a start before the submission", Succeeded, at(-100), at(11), at(10), at(11)},
		// A start in the future, or after the site's own end: the
		// site's clock is off, and neither time is taken (the
		// controller's own stamps count instead).
		{"a start in the future", Running, at(1000), zero, zero, zero},
		{"a start in the future, an end before now", Succeeded, at(1000), at(11.5), zero, zero},
		{"an end before the start", Succeeded, at(11), at(10.5), zero, zero},
		{"an end in the future", Failed, at(11), at(1e6), at(11), at(12)},
		{"both long ago", Succeeded, at(-50), at(-40), at(10), at(10)},
		{"an end while still running is not an end", Running, at(11), at(11.5), at(11), zero},
		{"no times", Succeeded, zero, zero, zero, zero},
		{"an end without a start", Succeeded, zero, at(11), zero, zero},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := fresh(tt.state)
			note := siteClock(r, 2, tt.started, tt.ended, at(12))
			a := r.Attempts[1]
			if offClock := tt.started.After(at(12)) || (!tt.ended.IsZero() && tt.started.After(tt.ended)); offClock != (note != "") {
				t.Errorf("note %q for a start at %v, an end at %v", note, tt.started, tt.ended)
			}
			if !a.Started.Equal(tt.wantStart) || !a.Ended.Equal(tt.wantEnd) {
				t.Fatalf("attempt from %v to %v, want %v to %v", a.Started, a.Ended, tt.wantStart, tt.wantEnd)
			}
			if s := r.Spent(at(12)); s.Hours-8 > 2+1e-9 {
				t.Fatalf("spent %.2f h, more than attempt 1's 8 h and the 2 h since attempt 2 was submitted", s.Hours)
			}
		})
	}

	// The previous attempt's end bounds the start when it is later than
	// the submission (a drain that went on past it).
	r := fresh(Succeeded)
	r.Attempts[0].Ended = at(11)
	siteClock(r, 2, at(10.5), at(11.5), at(12))
	if a := r.Attempts[1]; !a.Started.Equal(at(11)) || !a.Ended.Equal(at(11.5)) {
		t.Errorf("after a drain to hour 11: from %v to %v, want from hour 11 to 11.5", a.Started, a.Ended)
	}

	// Stamps the controller made move earlier only.
	r = fresh(Succeeded)
	r.Attempts[1].Started, r.Attempts[1].Ended = at(11), at(11.5)
	siteClock(r, 2, at(11.2), at(11.8), at(12))
	if a := r.Attempts[1]; !a.Started.Equal(at(11)) || !a.Ended.Equal(at(11.5)) {
		t.Errorf("later site times moved the controller's stamps: from %v to %v", a.Started, a.Ended)
	}
	siteClock(r, 2, at(10.2), at(11.1), at(12))
	if a := r.Attempts[1]; !a.Started.Equal(at(10.2)) || !a.Ended.Equal(at(11.1)) {
		t.Errorf("earlier site times: from %v to %v, want 10.2 to 11.1", a.Started, a.Ended)
	}

	// A site whose clock puts the start in the future, or after its own
	// end, leaves the attempt to the controller's own clock: one the
	// controller saw running from hour 11 and sees ended at hour 12
	// counts that hour. Taking the start as now (hour 12), as before,
	// and the end no earlier than it, counted nothing.
	for _, site := range [][2]time.Time{{at(1000), at(10.5)}, {at(1000), at(1001)}, {at(11.8), at(11.2)}} {
		r = fresh(Running)
		r.Attempts[1].Started = at(11)
		r.State = Succeeded
		note := siteClock(r, 2, site[0], site[1], at(12))
		clockAttempt(r, Running, at(12))
		if a := r.Attempts[1]; !a.Started.Equal(at(11)) || !a.Ended.Equal(at(12)) || !strings.Contains(note, "clock is off") {
			t.Errorf("site start %v, end %v: attempt from %v to %v (note %q), want the controller's hour 11 to 12", site[0], site[1], a.Started, a.Ended, note)
		}
	}
	// One it never saw running (queued, then ended between two looks)
	// is not stamped as having started when the controller looked.
	r = fresh(Succeeded)
	siteClock(r, 2, at(1000), at(1001), at(12))
	clockAttempt(r, Queued, at(12))
	if a := r.Attempts[1]; !a.Started.IsZero() || !a.Ended.IsZero() {
		t.Errorf("a start in the future stamped the attempt from %v to %v, want no stamp", a.Started, a.Ended)
	}

	// An attempt recorded without a submission stamp has no lower bound:
	// the site's times are not taken. Nor are they for another attempt.
	r = fresh(Succeeded)
	r.Attempts[1].Submitted = zero
	siteClock(r, 2, at(10.5), at(11.5), at(12))
	if a := r.Attempts[1]; !a.Started.IsZero() || !a.Ended.IsZero() {
		t.Errorf("without a submission stamp: from %v to %v, want nothing", a.Started, a.Ended)
	}
	r = fresh(Succeeded)
	siteClock(r, 1, at(10.5), at(11.5), at(12))
	if a := r.Attempts[1]; !a.Started.IsZero() || !r.Attempts[0].Started.Equal(at(1)) {
		t.Errorf("times for attempt 1 while attempt 2 is current changed %+v", r.Attempts)
	}
}

// TestShortJobBetweenPollsIsCounted: an attempt whose job runs from start
// to end between two of the controller's looks (queued at one, ended at
// the next) counts the time it ran, as its site (the local backend) tells
// it: more than nothing, no more than the wall time since it was
// submitted. The controller is stepped by hand, so that it does not look
// while the job runs; the workload reports no checkpoint, which would
// have shown the controller the run holding its pool.
func TestShortJobBetweenPollsIsCounted(t *testing.T) {
	c, dir := steppedLocal(t)
	before := time.Now()
	r := queuedJob(t, c, "sleep 0.5")
	// The site's own view of the job, until it has ended.
	bs := siteStatusUntil(t, dir, r, func(s backend.Status) bool { return s.State.Final() })
	if bs.State != backend.Succeeded {
		t.Fatalf("job at the site: %+v, want succeeded", bs)
	}
	r, after := stepTo(t, c, r.ID, Succeeded)
	a := r.Attempts[0]
	if a.Submitted.Before(before) || a.Submitted.After(after) {
		t.Errorf("submitted %v, outside the test's [%v, %v]", a.Submitted, before, after)
	}
	s := r.Spent(after)
	wall := after.Sub(before).Hours()
	ran := time.Duration(s.Hours * float64(time.Hour))
	t.Logf("attempt ran %v (from %v to %v); %v of wall time since submission", ran, a.Started, a.Ended, after.Sub(before))
	if ran < 500*time.Millisecond || s.Hours > wall {
		t.Fatalf("spent %v (%+v), want the workload's 0.5 s at least and at most the %v since it was submitted", ran, s, after.Sub(before))
	}
	if s.AcceleratorHours != s.Hours*float64(a.Count) || s.USD != s.AcceleratorHours*a.PricePerHour {
		t.Errorf("spent %+v, not its hours at the pool's count (%d) and price (%g)", s, a.Count, a.PricePerHour)
	}
}

// steppedLocal is a controller over the local test sites whose loop does
// not run (tests step it), and its state directory.
func steppedLocal(t *testing.T) (*Controller, string) {
	t.Helper()
	st, dir := testStore(t)
	traversable(t, dir)
	cfg := sitesConfig(st, dir)
	cfg.Stager = &transfer.Stager{Law: transfer.BasisLaw{}, Keys: dataset.TenantKeyrings{Root: dir}, Ledger: transfer.AuditLedger{Store: st}}
	c := handStepped(t, cfg)
	t.Cleanup(func() { endLocalJobs(t, dir) })
	return c, dir
}

// siteStatusUntil reads the status of r's job from its local site, as the
// site itself tells it, until done says it is what the caller waits for
// (or 30 s have passed), and returns the last.
func siteStatusUntil(t *testing.T, dir string, r *Run, done func(backend.Status) bool) backend.Status {
	t.Helper()
	be, err := local.New(catalog.BackendSpec{}, filepath.Join(dir, "sites", r.Site))
	if err != nil {
		t.Fatal(err)
	}
	var bs backend.Status
	for deadline := time.Now().Add(30 * time.Second); !done(bs) && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if bs, err = be.Status(context.Background(), r.Handle); err != nil {
			t.Fatal(err)
		}
	}
	return bs
}

// stepTo steps tenant t1's run id once, which must leave it in state want,
// and returns it with the time the step had ended.
func stepTo(t *testing.T, c *Controller, id string, want State) (*Run, time.Time) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.Step(ctx, id); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	r, err := c.Get(ctx, "t1", id)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != want {
		t.Fatalf("run %s (%s), want %s", r.State, r.Reason, want)
	}
	return r, after
}

// queuedJob submits tenant t1's job of one accelerator whose workload is
// the shell command script, and steps it until its attempt is queued at
// its site.
func queuedJob(t *testing.T, c *Controller, script string) *Run {
	t.Helper()
	doc := jobDoc(1, 1)
	i := strings.Index(doc.Content, "    command:")
	doc.Content = doc.Content[:i] + fmt.Sprintf("    command: [/bin/sh, -c, %q]\n", script)
	ctx := context.Background()
	r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{doc}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10 && r.State != Queued; i++ {
		if _, err := c.Step(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
		if r, err = c.Get(ctx, "t1", r.ID); err != nil {
			t.Fatal(err)
		}
	}
	if r.State != Queued {
		t.Fatalf("run %s (%s), want queued", r.State, r.Reason)
	}
	return r
}

// TestCancelCountsWhatTheSiteRan: a job that started after the controller
// last looked (it saw the attempt queued) and is then cancelled counts the
// time it ran, as its site tells it when the cancel reaches it: before,
// the attempt had never been seen running and counted nothing.
func TestCancelCountsWhatTheSiteRan(t *testing.T) {
	c, dir := steppedLocal(t)
	ctx := context.Background()
	before := time.Now()
	r := queuedJob(t, c, "sleep 60")
	bs := siteStatusUntil(t, dir, r, func(s backend.Status) bool { return s.State == backend.Running && !s.Started.IsZero() })
	if bs.State != backend.Running || bs.Started.IsZero() {
		t.Fatalf("job at the site: %+v, want running since a time", bs)
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := c.Cancel(ctx, "t1", r.ID); err != nil {
		t.Fatal(err)
	}
	r, after := stepTo(t, c, r.ID, Cancelled)
	ran := time.Duration(r.Spent(after).Hours * float64(time.Hour))
	t.Logf("cancelled attempt ran %v (from %v to %v)", ran, r.Attempts[0].Started, r.Attempts[0].Ended)
	if ran < 300*time.Millisecond || ran > after.Sub(before) {
		t.Fatalf("cancelled attempt counts %v, want the 0.3 s at least it ran and at most the %v since it was submitted", ran, after.Sub(before))
	}
}

// TestLostQueuedAttemptCountsSiteStart: an attempt the controller saw only
// queued, lost because its agent was silent while the site said its job
// ran (the job started while the controller was down, say), counts from
// the start the site gave to its loss.
func TestLostQueuedAttemptCountsSiteStart(t *testing.T) {
	c, _ := steppedLocal(t)
	ctx := context.Background()
	r := queuedJob(t, c, "sleep 60")
	started := r.Attempts[0].Submitted.Add(10 * time.Millisecond)
	time.Sleep(time.Until(started.Add(10 * time.Millisecond)))
	if ok, err := c.loseSeen(ctx, r, "no report from attempt 1's agent", backend.Status{State: backend.Running, Started: started}); !ok || err != nil {
		t.Fatalf("loseSeen = %v, %v", ok, err)
	}
	got, err := c.Get(ctx, "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	a := got.Attempts[0]
	if got.State != Migrating || !a.Started.Equal(started) || a.Ended.Before(started) {
		t.Fatalf("run %s, attempt from %v to %v; want migrating, from the site's start %v to the loss", got.State, a.Started, a.Ended, started)
	}
	if got.Spent(a.Ended).Hours <= 0 {
		t.Errorf("lost attempt counts %+v, want the time from its start", got.Spent(a.Ended))
	}
}

// TestSiteClockAheadCountsByControllerClock: a site whose clock says a job
// started after it ended (here a local site whose answers are put an hour
// off each way: the local backend's own times can no longer be set back by
// a job's files) leaves the attempt to the controller's clock: the
// controller saw it running and then ended, and that time counts, with an
// event that says why. Before, the end was taken no earlier than the
// start, the controller's own stamp, and the attempt counted no time.
func TestSiteClockAheadCountsByControllerClock(t *testing.T) {
	st, dir := testStore(t)
	traversable(t, dir)
	cfg := sitesConfig(st, dir)
	cfg.Stager = &transfer.Stager{Law: transfer.BasisLaw{}, Keys: dataset.TenantKeyrings{Root: dir}, Ledger: transfer.AuditLedger{Store: st}}
	skew := &siteClockSkew{}
	cfg.Backends = func(site *catalog.Site, root string) (backend.Backend, error) {
		be, err := backend.For(site.Spec.Backend, root)
		return skewedSite{Backend: be, skew: skew}, err
	}
	c := handStepped(t, cfg)
	t.Cleanup(func() { endLocalJobs(t, dir) })
	ctx := context.Background()
	r := queuedJob(t, c, "sleep 1")
	siteStatusUntil(t, dir, r, func(s backend.Status) bool { return s.State == backend.Running })
	r, _ = stepTo(t, c, r.ID, Running)
	seen := r.Attempts[0].Started
	if seen.IsZero() {
		t.Fatalf("running attempt without a start: %+v", r.Attempts[0])
	}
	bs := siteStatusUntil(t, dir, r, func(s backend.Status) bool { return s.State.Final() })
	if bs.State != backend.Succeeded {
		t.Fatalf("job at the site: %+v, want succeeded", bs)
	}
	// The site's clock from now on: the job started an hour from now and
	// ended an hour before the controller saw it run.
	skew.set(time.Now().Add(time.Hour), seen.Add(-time.Hour))
	before := time.Now()
	r, after := stepTo(t, c, r.ID, Succeeded)
	a := r.Attempts[0]
	if !a.Started.Equal(seen) || a.Ended.Before(before) || a.Ended.After(after) {
		t.Fatalf("attempt from %v to %v, want from the controller's %v to its step's end (%v to %v)", a.Started, a.Ended, seen, before, after)
	}
	if ran := time.Duration(r.Spent(after).Hours * float64(time.Hour)); ran < 500*time.Millisecond {
		t.Fatalf("attempt counts %v, want the time the controller saw it run", ran)
	}
	evs, err := c.Events(ctx, "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var note string
	for _, e := range evs {
		if e.Kind == "site-clock" {
			note = e.Reason
		}
	}
	if !strings.Contains(note, "clock is off") || !strings.Contains(note, r.Site) {
		t.Fatalf("events %+v, want a site-clock event naming site %s", evs, r.Site)
	}
}

// siteClockSkew is what skewedSite says of a final job's times once set.
type siteClockSkew struct {
	mu             sync.Mutex
	started, ended time.Time
}

func (k *siteClockSkew) set(started, ended time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.started, k.ended = started, ended
}

// skewedSite is a site whose clock is off: once its skew is set, a final
// job's status carries the skew's start and end instead of its own.
type skewedSite struct {
	backend.Backend
	skew *siteClockSkew
}

func (s skewedSite) Status(ctx context.Context, handle string) (backend.Status, error) {
	bs, err := s.Backend.Status(ctx, handle)
	s.skew.mu.Lock()
	defer s.skew.mu.Unlock()
	if err == nil && bs.State.Final() && !s.skew.started.IsZero() {
		bs.Started, bs.Ended = s.skew.started, s.skew.ended
	}
	return bs, err
}
