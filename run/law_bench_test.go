package run

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/store"
)

// benchRuns makes a controller (its loop not running) whose store holds n
// running runs of one tenant at site alpha (each with its own job), and
// the rules state it is under.
func benchRuns(b *testing.B, n int) (*Controller, *rules.State) {
	b.Helper()
	ctx := context.Background()
	dir := b.TempDir()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "m.db"), store.Options{AuditKey: []byte("test key 0123456")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	rs, err := rules.Open(ctx, st, nil)
	if err != nil {
		b.Fatal(err)
	}
	law := rs.Law()
	c := New(Config{Store: st, StateDir: dir, CatalogDir: "testdata/sites", Workers: 2,
		Plan: func(ctx context.Context, w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
			return planner.Make(w, job, planner.Options{AsOf: asOf, ExcludeSites: exclude, Rules: law})
		},
		LawNow: func() LawNow {
			cur := rs.Current()
			return LawNow{Rev: cur.Rev, Law: planner.PolicyLaw(cur.Engine), Transfer: cur.Engine, Dates: cur.Dates}
		},
		Backends: func(site *catalog.Site, root string) (backend.Backend, error) {
			return backend.For(site.Spec.Backend, root)
		},
		ServerURL: "http://127.0.0.1:1", AgentKey: []byte("agent key for the law benchmark.")})
	first, _, err := c.Submit(ctx, "t0", SubmitRequest{Documents: []Document{jobDoc(100, 10)}})
	if err != nil {
		b.Fatal(err)
	}
	if first.Site != "alpha" {
		b.Fatalf("placed at %s", first.Site)
	}
	start := time.Now()
	for i := 1; i < n; i++ {
		r := *first
		r.ID, r.State = fmt.Sprintf("run-%012x", i), Running
		// Each run its own job (a different token count), so that nothing
		// one run's check learns is reused for another.
		doc := first.Documents[0]
		doc.Content = strings.Replace(doc.Content, "tokens: 1.0e6", fmt.Sprintf("tokens: %d", 1_000_000+i), 1)
		if doc.Content == first.Documents[0].Content {
			b.Fatal("the job has no token count to vary")
		}
		r.Documents = []Document{doc}
		row, err := toRow(&r)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := st.CreateRun(ctx, row, "", store.Change{}); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("%d runs stored in %s", n, time.Since(start).Round(time.Millisecond))
	return c, rs
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRecheckAfterRevision: a revision the live runs must be checked
// against, 10,000 of them running; the revision touches none (the common
// case: a rule about somewhere else). warm: the runs' documents were
// parsed before (a server that has been up); cold: the first check after a
// start parses each run's documents.
func BenchmarkRecheckAfterRevision(b *testing.B) {
	const n = 10_000
	c, rs := benchRuns(b, n)
	ctx := context.Background()
	f := policy.File{Name: "no-aq.yaml", Data: []byte(`apiVersion: meridian.dev/v1alpha1
kind: RulePack
metadata: {name: bench}
rules:
  - id: bench-no-aq
    jurisdiction: ORG
    kind: org-policy
    effect: deny
    effectiveFrom: 2020-01-01
    enforcement: in-force
    confidence: confirmed
    sources: ["law_bench_test.go"]
    message: "site {site.name} is in {site.country}"
    condition: "site.country == 'AQ'"
`)}
	if _, _, err := rs.Apply(ctx, rules.Change{Files: []policy.File{f}}, "admin", "bench", time.Now()); err != nil {
		b.Fatal(err)
	}
	for _, warm := range []bool{false, true} {
		name := "cold"
		if warm {
			name = "warm"
			if _, err := c.recheckAll(ctx, c.lawNow()); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(fmt.Sprintf("runs=%d/%s", n, name), func(b *testing.B) {
			// CPU seconds per check, beside the wall time: on a shared
			// machine the wall time says more about the neighbours.
			cpu0 := cpuTime()
			defer func() { b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op") }()
			for b.Loop() {
				if !warm {
					b.StopTimer()
					c.mu.Lock()
					c.worlds = map[string]*catalog.World{}
					c.mu.Unlock()
					b.StartTimer()
				}
				res, err := c.recheckAll(ctx, c.lawNow())
				if err != nil {
					b.Fatal(err)
				}
				if res.Runs != n || res.Lawful != n {
					b.Fatalf("%d runs checked, %d lawful: %+v", res.Runs, res.Lawful, res.Undetermined[:min(3, len(res.Undetermined))])
				}
			}
		})
	}
}

// BenchmarkRevisionToRunningElsewhere: from a revision that makes a
// running run's site unlawful to that run running at another site, through
// the whole path (the controller's re-check, the drain: the agent is told
// to stop, the trainer checkpoints on SIGTERM, the re-plan, the checkpoint
// copied store to store, the new attempt started by its agent). The data
// is a few kilobytes, so this is the path's own time. Each iteration is a
// new run; the revision is taken back afterwards.
func BenchmarkRevisionToRunningElsewhere(b *testing.B) {
	e, rs := lawEnv(b, nil)
	ctx := context.Background()
	deny := denyPack("bench-no-sg", "SG", "2020-01-01")
	var total time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(2000, 10)}})
		if err != nil {
			b.Fatal(err)
		}
		if r.Site != "alpha" {
			b.Fatalf("placed at %s", r.Site)
		}
		e.waitFor("a checkpoint", 60*time.Second, func(r *Run) bool { return r.Checkpoint != nil && r.Checkpoint.Step >= 10 }, r.ID)
		b.StartTimer()
		start := time.Now()
		if _, _, err := rs.Apply(ctx, rules.Change{Files: []policy.File{deny}}, "admin", fmt.Sprintf("bench %d", i), time.Now()); err != nil {
			b.Fatal(err)
		}
		e.c.Nudge()
		e.waitFor("running elsewhere", 60*time.Second, func(r *Run) bool {
			return r.Site == "bravo" && (r.State == Running || r.State == Checkpointed)
		}, r.ID)
		total += time.Since(start)
		b.StopTimer()
		if _, err := e.c.Cancel(ctx, "t1", r.ID); err != nil {
			b.Fatal(err)
		}
		e.waitFor("cancelled", 60*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
		if _, _, err := rs.Apply(ctx, rules.Change{Remove: []string{deny.Name}}, "admin", fmt.Sprintf("bench %d done", i), time.Now()); err != nil {
			b.Fatal(err)
		}
		e.c.Nudge()
		b.StartTimer()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/move")
}
