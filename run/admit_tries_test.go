package run

import (
	"context"
	"fmt"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/store"
)

// TestAdmissionTriesBounded: an admission pass planned again every waiting
// run whose retry had fallen due, however many: a tenant's thousands of
// runs, submitted together and so due together, cost one pass thousands
// of plans (each judged under the law), while the loop's other work
// waited. A pass now plans at most maxTries; the runs it did not reach
// are tried by the next passes, in the admission order, each once.
func TestAdmissionTriesBounded(t *testing.T) {
	const n = 2*maxTries + 5
	e := newBatchEnv(t)
	lawOnce(e)
	e.fillBoth()
	for i := range n {
		e.submit(fmt.Sprintf("t%d", i%3+1), batchJob(fmt.Sprintf("w%d", i), 1e9), 0, Held)
	}
	at := time.Now().Add(time.Hour)
	e.c.cfg.Now = func() time.Time { return at }
	plans := 0
	plan := e.c.cfg.Plan
	e.c.cfg.Plan = func(ctx context.Context, w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
		plans++
		return plan(ctx, w, job, asOf, exclude)
	}
	tried := 0
	for pass := 0; pass < 5 && tried < n; pass++ {
		plans = 0
		st := e.admit()
		if plans > maxTries {
			t.Errorf("pass %d planned %d times; want at most %d", pass, plans, maxTries)
		}
		tried += st.Tried
	}
	rows, err := e.st.ListRuns(context.Background(), store.ListOptions{AllTenants: true, States: []string{string(Held)}})
	if err != nil {
		t.Fatal(err)
	}
	again := 0
	for _, row := range rows {
		if r := e.get(row.ID); r.Hold != nil && r.Hold.NextTry.After(at) {
			again++
		}
	}
	if tried != n || again != n {
		t.Errorf("%d tries, %d runs tried of %d waiting; want every waiting run tried once", tried, again, n)
	}
}
