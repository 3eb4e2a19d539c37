package run

import (
	"context"
	"errors"
	"fmt"
	"strings"
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

// TestAdmissionTriesGoRound: more than maxTries runs of tenant t1 wait at
// the head of the admission order whose plans fail (nothing is recorded
// of such a try), and behind them t2's run, for which ca was freed. Each
// pass planned the same head runs again and ended there, and t2's run was
// never tried. The passes' plans now go on from where the last stopped, so
// it is admitted within the passes it takes to try every waiting run once.
func TestAdmissionTriesGoRound(t *testing.T) {
	const n = maxTries + 5
	e := newBatchEnv(t)
	lawOnce(e)
	ca, _ := e.fillBoth()
	for i := range n {
		e.submit("t1", batchJob(fmt.Sprintf("broken-%d", i), 1e9), 0, Held)
	}
	good := e.submit("t2", batchJob("good", 1e9), 0, Held)
	e.end(ca)
	at := time.Now().Add(time.Hour)
	e.c.cfg.Now = func() time.Time { return at }
	plans := 0
	plan := e.c.cfg.Plan
	e.c.cfg.Plan = func(ctx context.Context, w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
		plans++
		if strings.HasPrefix(job.Metadata.Name, "broken-") {
			return nil, errors.New("test: the plan fails")
		}
		return plan(ctx, w, job, asOf, exclude)
	}
	admitted := 0
	for pass := 0; pass < 4 && admitted == 0; pass++ {
		plans = 0
		admitted += e.admit().Admitted
		if plans > maxTries {
			t.Errorf("pass %d planned %d times; want at most %d", pass, plans, maxTries)
		}
	}
	if pl := e.target(good.ID); pl.Site != "ca" {
		t.Fatalf("good went to %s", pl.Site)
	}
}

// TestAdmissionSpentKeepsPlace: the run that finds a pass's fleet searches
// spent is left untouched, and the next pass searches for it first: it is
// not counted among the runs that pass planned (Controller.tried), which
// wait for the round's end. Here z, behind maxSearches runs that never fit
// beside a and ahead of as many more, fits at cc once b moves to cb: it is
// admitted at the second pass.
func TestAdmissionSpentKeepsPlace(t *testing.T) {
	e := newBatchEnvAt(t, "testdata/batch-sites-3")
	lawOnce(e)
	for _, s := range []string{"ca", "cb", "cc"} {
		e.submit("t0", batchJob("hold-"+s, 1e9, s), 0, Planned)
	}
	for i := range maxSearches {
		e.submit("t1", batchJob(fmt.Sprintf("never-%d", i), 1e9, "ca"), 0, Held)
	}
	z := e.submit("t1", batchJob("z", 1e9, "cc"), 0, Held)
	for i := range maxSearches + 8 {
		e.submit("t1", batchJob(fmt.Sprintf("behind-%d", i), 1e9, "ca"), 0, Held)
	}
	at := time.Now()
	e.c.cfg.Now = func() time.Time { return at }
	ctx := context.Background()
	for pass := range 2 {
		if pass > 0 {
			e.submit("t0", batchJob(fmt.Sprintf("hold-cb-%d", pass), 1e9, "cb"), 0, Planned)
		}
		a := e.submit("t1", batchJob(fmt.Sprintf("a-%d", pass), 1e9, "ca"), 2, Held)
		b := e.submit("t1", batchJob(fmt.Sprintf("b-%d", pass), 1e9, "cb", "cc"), 1, Held)
		rows, err := e.st.ListRuns(ctx, store.ListOptions{AllTenants: true, States: []string{string(Planned), string(Migrating)}})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			e.end(r.ID)
		}
		at = at.Add(time.Hour)
		e.admit()
		if e.get(a.ID).State != Migrating || e.get(b.ID).State != Migrating {
			t.Fatalf("pass %d: the runs that fit at once were not admitted: %s, %s", pass, e.get(a.ID).State, e.get(b.ID).State)
		}
	}
	if got := e.get(z.ID); got.State != Migrating || got.Migration.Target.Site != "cc" {
		t.Fatalf("after two passes z is %s (%s); want it admitted at cc", got.State, got.Reason)
	}
}
