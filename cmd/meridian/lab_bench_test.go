package main

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"meridian.dev/meridian/run"
)

// BenchmarkSites measures, through a running `meridian serve` and on each
// lab's real scheduler, the two figures of a site's backend that a user
// sees: how long from `meridian run` until the run is running, and how long
// from losing the site it runs at until it runs at the other site (the loss
// detected, the run re-planned, its checkpoint moved store to store and the
// attempt started there). Each iteration submits one run to the lab's
// first site, waits for its first checkpoint, loses the site, waits for
// the run to run at the second, then cancels it and restores the site.
//
// Times are taken by the client polling the run every 5 ms (the server
// polls its backends every 50 ms; the Kubernetes backend also watches), so
// each carries up to 5 ms of the benchmark's own polling. The queued→running
// figure is from the server's own event times: the scheduler and agent
// start-up alone, without planning and staging. Site loss includes the
// lab's detection: local and command-line Slurm report the loss at once, a
// Kubernetes node is lost once NotReady for the site timeout (3 s here).
func BenchmarkSites(b *testing.B) {
	for _, name := range []string{"local", "slurm", "slurmrest", "kubernetes"} {
		b.Run(name, func(b *testing.B) {
			p := newServeProc(b)
			var lab *siteLab
			switch name {
			case "local":
				lab = localLab(p)
			case "slurm":
				if os.Getenv("MERIDIAN_TEST_SLURM") != "1" {
					b.Skip("set MERIDIAN_TEST_SLURM=1 with a running cluster (scripts/slurm-up.sh)")
				}
				lab = slurmLab(b, p)
			case "slurmrest":
				lab = restLab(b)
			case "kubernetes":
				lab = kubeLab(b)
			}
			benchSite(b, p, lab)
		})
	}
}

func benchSite(b *testing.B, p *serveProc, lab *siteLab) {
	lab.serve(b, p)
	defer p.stop()
	b.Cleanup(lab.restore)
	ctx := context.Background()
	job := demoJob(b, p.bin, p.state, 100000, 10, "20ms")
	wait := func(id, what string, limit time.Duration, cond func(*run.Run) bool) *run.Run {
		b.Helper()
		deadline := time.Now().Add(limit)
		for {
			r, err := p.c.Get(ctx, id)
			if err != nil {
				b.Fatal(err)
			}
			if cond(r) {
				return r
			}
			if r.State.Final() || time.Now().After(deadline) {
				b.Fatalf("run %s: %s: %s %s at %s\n%s", id, what, r.State, r.Reason, r.Site, lab.outputOf(id))
			}
			time.Sleep(5 * time.Millisecond) // the benchmark's polling interval
		}
	}
	var toRunning, queuedToRunning, lossToRunning time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		r, err := p.c.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: job}},
			IdempotencyKey: fmt.Sprintf("bench-%d", i)})
		if err != nil {
			b.Fatal(err)
		}
		if r.Site != lab.first {
			b.Fatalf("run %s planned at %s, want %s", r.ID, r.Site, lab.first)
		}
		wait(r.ID, "running", 60*time.Second, func(r *run.Run) bool { return r.State == run.Running || r.State == run.Checkpointed })
		toRunning += time.Since(start)
		evs, err := p.c.Events(ctx, r.ID)
		if err != nil {
			b.Fatal(err)
		}
		var queued, running time.Time
		for _, e := range evs {
			if e.Kind == "state" && e.To == string(run.Queued) && queued.IsZero() {
				queued = e.Time
			}
			if e.Kind == "state" && e.To == string(run.Running) && running.IsZero() {
				running = e.Time
			}
		}
		if queued.IsZero() || running.Before(queued) {
			b.Fatalf("run %s: no queued→running in its events", r.ID)
		}
		queuedToRunning += running.Sub(queued)
		wait(r.ID, "first checkpoint", 60*time.Second, func(r *run.Run) bool { return r.Checkpoint != nil })
		lost := time.Now()
		if err := lab.fail(ctx); err != nil {
			b.Fatal(err)
		}
		wait(r.ID, "running at "+lab.second, 60*time.Second, func(r *run.Run) bool {
			return r.Site == lab.second && (r.State == run.Running || r.State == run.Checkpointed)
		})
		lossToRunning += time.Since(lost)
		b.StopTimer()
		if _, err := p.c.Cancel(ctx, r.ID); err != nil {
			b.Fatal(err)
		}
		wait(r.ID, "the end", 60*time.Second, func(r *run.Run) bool { return r.State.Final() })
		lab.restore()
		b.StartTimer()
	}
	n := float64(b.N)
	b.ReportMetric(toRunning.Seconds()/n, "s/submit-to-running")
	b.ReportMetric(queuedToRunning.Seconds()/n, "s/queued-to-running")
	b.ReportMetric(lossToRunning.Seconds()/n, "s/loss-to-running")
}
