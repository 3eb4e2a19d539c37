package main

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/run"
)

const fleetCrashSites = `apiVersion: meridian.dev/v1alpha1
kind: Site
metadata: {name: fleet-x}
spec:
  country: SG
  location: {lat: 1.33, lon: 103.70}
  operator: {name: test-dc, headquarters: SG}
  pools:
    - {accelerator: nvidia-h100-sxm, count: 32, available: 16, pricePerHour: 2.0, priceSource: "test value"}
  network: {egressPerGB: 0.08, gbps: 10}
  backend: {type: local}
---
apiVersion: meridian.dev/v1alpha1
kind: Site
metadata: {name: fleet-y}
spec:
  country: SG
  location: {lat: 1.30, lon: 103.80}
  operator: {name: test-dc, headquarters: SG}
  pools:
    - {accelerator: nvidia-h100-sxm, count: 32, available: 8, pricePerHour: 3.0, priceSource: "test value"}
  network: {egressPerGB: 0.08, gbps: 10}
  backend: {type: local}
`

// fleetCrashJob needs 8 accelerators; its workload prints a launch line
// into the output the site keeps, then sleeps a little.
func fleetCrashJob(i int) string {
	return fmt.Sprintf(`apiVersion: meridian.dev/v1alpha1
kind: Organization
metadata: {name: fleet-lab}
spec: {headquarters: SG}
---
apiVersion: meridian.dev/v1alpha1
kind: TrainingJob
metadata: {name: fleet-%d}
spec:
  organization: fleet-lab
  model: {parameters: 1.0e6}
  method: pretrain
  tokens: 5.0e5
  constraints: {minAccelerators: 8, maxAccelerators: 8}
  workload:
    command: [/bin/sh, -c, 'printf "launch run=%%s attempt=%%s\n" "$MERIDIAN_RUN_ID" "$MERIDIAN_ATTEMPT"; sleep 0.4']
`, i)
}

// overCommitted checks the runs' holds, worked out from their states and
// placements as the API shows them, against the pools' availability.
func overCommitted(runs []*run.Run) string {
	limit := map[string]int{"fleet-x": 16, "fleet-y": 8}
	held := map[string]int{}
	for _, r := range runs {
		switch r.State {
		case run.Planned, run.Staging, run.Queued, run.Running, run.Checkpointed:
			held[r.Site] += r.Placement.Count
		case run.Migrating:
			if r.Migration != nil && r.Migration.Target != nil && !r.Migration.Drain {
				held[r.Migration.Target.Site] += r.Migration.Target.Count
			}
		}
	}
	for s, n := range held {
		if n > limit[s] {
			return fmt.Sprintf("%s holds %d of %d", s, n, limit[s])
		}
	}
	return ""
}

// TestFleetCrashSafety: 12 jobs of 8 accelerators against room for 3 at a
// time, the server killed with SIGKILL at random moments while it admits
// them and restarted: every job runs exactly once and succeeds, none is
// lost or doubled (a retried submission finds its run), and no pool is
// ever seen over-committed.
func TestFleetCrashSafety(t *testing.T) {
	p := newServeProc(t)
	cat := filepath.Join(t.TempDir(), "sites")
	os.Mkdir(cat, 0o755)
	if err := os.WriteFile(filepath.Join(cat, "sites.yaml"), []byte(fleetCrashSites), 0o644); err != nil {
		t.Fatal(err)
	}
	p.cat = cat
	p.extra = []string{"--no-local-site"}
	lab := localLab(p)
	p.start()
	ctx := context.Background()
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewSource(seed))
	t.Logf("seed %d", seed)
	const n = 12
	ids := map[string]bool{}
	held := 0
	for i := range n {
		r, err := p.c.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: fleetCrashJob(i)}}, IdempotencyKey: fmt.Sprintf("fleet-%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids[r.ID] = true
		if r.State == run.Held {
			held++
		}
	}
	if held != n-3 {
		t.Fatalf("%d of %d held at submission, want %d", held, n, n-3)
	}
	check := func() {
		t.Helper()
		runs, err := p.c.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if msg := overCommitted(runs); msg != "" {
			t.Fatal(msg)
		}
	}
	for kill := 0; kill < 8; kill++ {
		deadline := time.Now().Add(time.Duration(100+rng.Intn(700)) * time.Millisecond) // chaos timing
		for time.Now().Before(deadline) {
			check()
			time.Sleep(20 * time.Millisecond)
		}
		p.kill()
		p.start()
		check()
		i := rng.Intn(n)
		r, err := p.c.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: fleetCrashJob(i)}}, IdempotencyKey: fmt.Sprintf("fleet-%d", i)})
		if err != nil || !ids[r.ID] {
			t.Fatalf("retry of job %d after restart: %v %v", i, r.ID, err)
		}
	}
	runs := waitRunsFinal(t, 2*time.Minute, 50*time.Millisecond, func() ([]*run.Run, error) { return p.c.List(ctx) },
		func(runs []*run.Run) {
			if msg := overCommitted(runs); msg != "" {
				t.Fatal(msg)
			}
		})
	defer p.stop()
	if len(runs) != n {
		t.Fatalf("%d runs, want %d", len(runs), n)
	}
	for _, r := range runs {
		if !ids[r.ID] || r.State != run.Succeeded {
			t.Errorf("run %s (known %v) ended %s: %s", r.ID, ids[r.ID], r.State, r.Reason)
		}
		if launches := checkLaunches(t, lab, r); len(launches) == 0 {
			t.Errorf("run %s: never launched\n%s", r.ID, lab.outputOf(r.ID))
		}
		evs, err := p.c.Events(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		released := 0
		for _, e := range evs {
			if e.Kind == "released" {
				released++
				if !strings.Contains(e.Reason, "admitted after waiting") {
					t.Errorf("run %s: release %q", r.ID, e.Reason)
				}
			}
		}
		if released > 1 {
			t.Errorf("run %s released %d times", r.ID, released)
		}
	}
	res, err := p.c.Verify(ctx)
	if err != nil || !res.OK {
		t.Errorf("audit after crashes: %+v %v", res, err)
	}
}
