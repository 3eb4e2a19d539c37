package run

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/store"
)

// idleFleet makes a controller (its loop not running) over the three fleet
// sites with every pool full: tenant t0 holds them with 7 runs of 8, and
// an eighth run of t0 waits. No waiting run's retry falls due while the
// caller works: only more room lets one be tried. It returns the holders'
// ids.
func idleFleet(tb testing.TB) (*Controller, []string) {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "m.db"), store.Options{AuditKey: []byte("test key 0123456")})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	c := New(Config{Store: st, StateDir: dir, CatalogDir: "testdata/fleet-sites", Workers: 2,
		Plan: func(ctx context.Context, w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
			return planner.Make(w, job, planner.Options{AsOf: asOf, ExcludeSites: exclude})
		},
		Backends: func(site *catalog.Site, root string) (backend.Backend, error) {
			return backend.For(site.Spec.Backend, root)
		},
		ServerURL: "http://127.0.0.1:1", AgentKey: []byte("agent key for the admit benchmark"),
		// On a busy machine, storing a benchmark's queue can take longer
		// than the default 5 s, and every pass would then plan thousands
		// of runs.
		HoldRetry: time.Hour})
	var holders []string
	for i := 0; ; i++ {
		r, _, err := c.Submit(ctx, "t0", SubmitRequest{Documents: []Document{fleetJob(fmt.Sprintf("hold-%d", i))}})
		if err != nil {
			tb.Fatal(err)
		}
		if r.State == Held {
			break
		}
		holders = append(holders, r.ID)
	}
	if len(holders) != 7 {
		tb.Fatalf("%d holders, want 7", len(holders))
	}
	return c, holders
}

// benchQueue is idleFleet with n runs waiting for capacity behind the
// holders, as a server that has been up a while holds them (decoded).
func benchQueue(b *testing.B, n int) (*Controller, []string) {
	b.Helper()
	return benchQueueOf(b, n, fleetJob("waiting"))
}

// benchQueueOf is benchQueue with doc for each run's documents.
func benchQueueOf(b testing.TB, n int, doc Document) (*Controller, []string) {
	b.Helper()
	ctx := context.Background()
	c, holders := idleFleet(b)
	st := c.cfg.Store
	// One waiting run per tenant through the API (which registers the
	// tenant's organisation), then copies of them in the store.
	var firsts []*Run
	for t := 1; t <= 5; t++ {
		r, _, err := c.Submit(ctx, fmt.Sprintf("t%d", t), SubmitRequest{Documents: []Document{doc}})
		if err != nil || r.State != Held || r.Hold.Wait != WaitCapacity || len(r.Hold.Wants) != 3 {
			b.Fatalf("%+v %v", r, err)
		}
		firsts = append(firsts, r)
	}
	start := time.Now()
	// Stored from many goroutines at once, so that the store commits them
	// in groups (one fsync for many).
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := len(firsts) + g; i < n; i += 32 {
				r := *firsts[i%len(firsts)]
				r.ID = fmt.Sprintf("run-%012x", i)
				r.Priority = i % 3
				row, err := toRow(&r)
				if err == nil {
					_, _, err = st.CreateRun(ctx, row, "", store.Change{})
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	b.Logf("%d waiting runs stored in %s", n, time.Since(start).Round(time.Millisecond))
	rows, err := st.ListRuns(ctx, store.ListOptions{Active: true, Final: FinalStates, AllTenants: true})
	if err != nil {
		b.Fatal(err)
	}
	if st := c.admit(ctx, rows); st.Considered != n+1 || st.Tried != 0 {
		b.Fatalf("first pass: %+v", st)
	}
	return c, holders
}

// BenchmarkAdmission is one pass of the admission loop over 10,000 runs
// waiting for capacity, as the controller makes it each tick (the list of
// active runs included). idle: nothing was freed, so each run's decision
// is that its pools have no more room than at its last try; freed: a
// holder ended first, so one run is planned again (the planner, the law)
// and admitted into its room, which the next holder's end frees again.
func BenchmarkAdmission(b *testing.B) {
	n := 10_000
	if testing.Short() {
		n = 500
	}
	if v := os.Getenv("ADMIT_BENCH_N"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	ctx := context.Background()
	for _, freed := range []bool{false, true} {
		name := "idle"
		if freed {
			name = "freed"
		}
		b.Run(name, func(b *testing.B) {
			c, holders := benchQueue(b, n)
			admitted := 0
			for b.Loop() {
				if freed {
					id := holders[0]
					holders = holders[1:]
					if _, err := c.update(ctx, id, func(r *Run, ch *store.Change) error {
						r.Migration, r.Hold = nil, nil
						return transition(ch, r, Succeeded, "benchmark: done")
					}); err != nil {
						b.Fatal(err)
					}
				}
				rows, err := c.cfg.Store.ListRuns(ctx, store.ListOptions{Active: true, Final: FinalStates, AllTenants: true})
				if err != nil {
					b.Fatal(err)
				}
				st := c.admit(ctx, rows)
				if st.Considered < n-admitted-1 {
					b.Fatalf("considered %d", st.Considered)
				}
				if freed {
					if st.Admitted != 1 {
						hs, _ := c.cfg.Store.Holds(ctx)
						b.Fatalf("freed 8, admitted %d (%+v); holds %+v", st.Admitted, st, hs)
					}
					admitted++
					// The admitted run holds the room now: it ends next.
					hs, err := c.cfg.Store.ListRuns(ctx, store.ListOptions{Active: true, Final: FinalStates, AllTenants: true})
					if err != nil {
						b.Fatal(err)
					}
					for _, r := range hs {
						if r.State == string(Migrating) && !containsID(holders, r.ID) {
							holders = append(holders, r.ID)
						}
					}
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
		})
	}
}

func containsID(ids []string, id string) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}
