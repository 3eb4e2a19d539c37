package run

import (
	"context"
	"fmt"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/store"
)

// passedQueue is a batch environment whose two sites (ca, cb) are free,
// and makes the waiting runs of tenant t1 for one admission pass, oldest
// first: x, lawful at both sites, which takes ca; n runs lawful only at ca,
// passed over (not due, and ca has no more room than they last saw); and
// m runs lawful only at ca that are tried (cb's room could let the batch
// move x), which find no room beside x and were searched for already in
// this round of the queue, so that they wait, untouched, for the next. All
// are of one priority. Each call of the function it returns ends the last
// pass's x and makes a pass's admission with a new x.
func passedQueue(tb testing.TB, n, m int) (*batchEnv, func() *admission) {
	tb.Helper()
	ctx := context.Background()
	e := newBatchEnvAt(tb, "testdata/batch-sites")
	lawOnce(e)
	ca, cb := e.fillBoth()
	x := e.submit("t1", batchJob("x", 1e9), 0, Held)
	pin := e.submit("t1", batchJob("pinned", 1e9, "ca"), 0, Held)
	e.end(ca)
	e.end(cb)
	now := e.c.cfg.Now()
	var runs []*Run
	at := x.CreatedAt
	for i := range n + m {
		r := *pin
		h := *pin.Hold
		r.Hold = &h
		r.ID = fmt.Sprintf("%s-%06d", pin.ID, i)
		at = at.Add(time.Millisecond)
		r.CreatedAt = at
		h.NextTry = now.Add(time.Hour)
		// Passed over: ca had all its room when they last tried. Tried:
		// it had none.
		h.Wants = []Want{{Site: "ca", Pool: 0, Accelerator: "nvidia-h100-sxm", Free: 8}}
		if i >= n {
			h.Wants[0].Free = 0
		}
		runs = append(runs, &r)
	}
	last, k := "", 0
	return e, func() *admission {
		if last != "" {
			e.end(last)
		}
		nx := *x
		h := *x.Hold
		nx.Hold = &h
		k++
		nx.ID = fmt.Sprintf("%s-%d", x.ID, k)
		h.NextTry = now.Add(-time.Minute)
		row, err := toRow(&nx)
		if err == nil {
			_, _, err = e.st.CreateRun(ctx, row, "", store.Change{})
		}
		if err != nil {
			tb.Fatal(err)
		}
		last = nx.ID
		e.c.searched = map[string]bool{}
		for _, r := range runs[n:] {
			e.c.searched[r.ID] = true
		}
		return &admission{waiting: append([]*Run{&nx}, runs...)}
	}
}

// lawOnce makes e's controller plan under the built-in law compiled once,
// as a server plans, rather than once a plan.
func lawOnce(e *batchEnv) {
	e.t.Helper()
	law, err := policy.Builtin()
	if err != nil {
		e.t.Fatal(err)
	}
	e.c.cfg.Plan = func(ctx context.Context, w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
		return planner.Make(w, job, planner.Options{AsOf: asOf, ExcludeSites: exclude, Rules: planner.PolicyLaw(law)})
	}
}

// TestAdmissionPassedLinear: for each run of a tenant it placed, the
// admission pass walked all of that tenant's runs it had passed over, to
// try first those of higher priority, and built their list again: a tenant
// with thousands of waiting runs of one priority cost the pass millions of
// steps. A passed-over run is now looked at only when it may be tried
// first, and at most once.
func TestAdmissionPassedLinear(t *testing.T) {
	const n, m = 1000, maxTries - 1
	e, next := passedQueue(t, n, m)
	st := e.c.admitRuns(context.Background(), next())
	if st.Tried != m+1 || st.Admitted != 1 {
		t.Fatalf("admission pass: %+v; want %d tried, 1 admitted", st, m+1)
	}
	if st.Rechecked > n {
		t.Errorf("the pass looked at passed-over runs %d times for %d of them", st.Rechecked, n)
	}
}

// BenchmarkAdmissionPassed is one admission pass over a tenant's 5,000
// passed-over runs and as many tried runs of one priority as a pass plans
// (passedQueue).
func BenchmarkAdmissionPassed(b *testing.B) {
	n, m := 5000, maxTries-1
	if testing.Short() {
		n = 300
	}
	e, next := passedQueue(b, n, m)
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		adm := next()
		b.StartTimer()
		if st := e.c.admitRuns(ctx, adm); st.Tried != m+1 || st.Admitted != 1 {
			b.Fatalf("admission pass: %+v", st)
		}
	}
}
