package run

import (
	"context"
	"fmt"
	"testing"
	"time"

	"meridian.dev/meridian/fleet"
	"meridian.dev/meridian/store"
)

// searchQueue is a batch environment whose two sites are full, with n
// runs of three tenants waiting behind, each lawful at both; the run
// holding ca has ended, so the next admission pass, its clock past every
// waiting run's retry, tries them all with room for one. It returns the
// clock's setter.
func searchQueue(tb testing.TB, n int) (*batchEnv, func(time.Time)) {
	e := newBatchEnvAt(tb, "testdata/batch-sites")
	ca, _ := e.fillBoth()
	for i := range n {
		e.submit(fmt.Sprintf("t%d", i%3+1), batchJob(fmt.Sprintf("w%d", i), 1e9), 0, Held)
	}
	e.end(ca)
	at := time.Now().Add(time.Hour)
	e.c.cfg.Now = func() time.Time { return at }
	return e, func(t time.Time) { at = t }
}

// countAssigns counts the fleet searches made until the test ends.
func countAssigns(tb testing.TB) *int {
	n := new(int)
	old := assignFleet
	assignFleet = func(p *fleet.Problem) (*fleet.Solution, error) {
		*n++
		return old(p)
	}
	tb.Cleanup(func() { assignFleet = old })
	return n
}

// TestAdmissionSearchesBounded: an admission pass searched the fleet
// (fleet.Assign, an exact search over the batch) once for each waiting run
// that did not fit at once beside the runs let in ahead of it: a queue of
// thousands that a freed pool makes worth trying cost thousands of searches
// in one pass, holding the loop. A pass now makes at most maxSearches; the
// runs it did not reach are tried by the next passes, in the admission
// order, each once, none skipped.
func TestAdmissionSearchesBounded(t *testing.T) {
	const n = 3*maxSearches + 5
	e, _ := searchQueue(t, n)
	calls := countAssigns(t)
	tried := map[string]bool{}
	admitted := 0
	for pass := 0; pass < 10 && len(tried) < n; pass++ {
		*calls = 0
		st := e.admit()
		if *calls > maxSearches {
			t.Errorf("pass %d searched the fleet %d times; want at most %d", pass, *calls, maxSearches)
		}
		admitted += st.Admitted
		rows, err := e.st.ListRuns(context.Background(), store.ListOptions{AllTenants: true, States: []string{string(Held), string(Migrating)}})
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range rows {
			r := e.get(row.ID)
			if r.State == Migrating || r.Hold != nil && r.Hold.NextTry.After(e.c.cfg.Now()) {
				tried[r.ID] = true
			}
		}
	}
	if admitted != 1 || len(tried) != n {
		t.Errorf("%d admitted, %d runs tried or admitted of %d waiting; want 1 admitted and every waiting run tried", admitted, len(tried), n)
	}
}

// BenchmarkAdmissionSearches is one admission pass over 300 waiting runs
// that a freed pool makes worth trying, with room for one.
func BenchmarkAdmissionSearches(b *testing.B) {
	e, setNow := searchQueue(b, 300)
	calls := countAssigns(b)
	at := time.Now().Add(time.Hour)
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		// Past every retry, and the last pass's admitted run ended.
		at = at.Add(24 * time.Hour)
		setNow(at)
		rows, err := e.st.ListRuns(ctx, store.ListOptions{AllTenants: true, States: []string{string(Migrating)}})
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range rows {
			e.end(r.ID)
		}
		b.StartTimer()
		e.admit()
	}
	b.ReportMetric(float64(*calls)/float64(b.N), "searches/op")
}

// TestAdmissionSearchesGoRound: every pass lets in two runs that fit at
// once (a at ca; b at cc, the cheaper of its two sites), and behind them
// wait 40 runs lawful only at ca, which never fit beside a, then z, lawful
// only at cc, which fits once the search moves b to cb. Each pass spent
// its searches on the first maxSearches of the 40, as the admission order
// puts them first at every pass, and z was never searched for: it waited
// for good beside a free arrangement. The passes' searches now go on from
// where the last stopped, so z is admitted within the passes it takes to
// search every waiting run once.
func TestAdmissionSearchesGoRound(t *testing.T) {
	const n = maxSearches + 8
	e := newBatchEnvAt(t, "testdata/batch-sites-3")
	for _, s := range []string{"ca", "cb", "cc"} {
		e.submit("t0", batchJob("hold-"+s, 1e9, s), 0, Planned)
	}
	for i := range n {
		e.submit("t1", batchJob(fmt.Sprintf("never-%d", i), 1e9, "ca"), 0, Held)
	}
	z := e.submit("t1", batchJob("z", 1e9, "cc"), 0, Held)
	at := time.Now()
	e.c.cfg.Now = func() time.Time { return at }
	ctx := context.Background()
	const passes = (n+1+maxSearches-1)/maxSearches + 1
	for pass := range passes {
		// Two runs of z's tenant, of higher priority, wait for the room
		// the runs holding it free; every waiting run's retry is due.
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
		if got := e.get(z.ID); got.State == Migrating {
			if got.Migration.Target.Site != "cc" || e.target(b.ID).Site != "cb" {
				t.Fatalf("z went to %s, b to %s: want cc and cb", got.Migration.Target.Site, e.target(b.ID).Site)
			}
			return
		}
	}
	got := e.get(z.ID)
	t.Fatalf("after %d passes z is %s (%s); want it admitted at cc beside b moved to cb", passes, got.State, got.Reason)
}
