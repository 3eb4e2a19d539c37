package run

import (
	"context"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
)

// slowStaging makes each object a staging sends take d.
type slowStaging struct{ d time.Duration }

func (slowStaging) Start(string, int64) {}
func (slowStaging) Done()               {}
func (s slowStaging) Add(int64)         { time.Sleep(s.d) }

// TestLongStagingHoldsNoOtherRun: while one run's staging takes long, the
// loop goes on stepping the others (a run without data starts and ends
// meanwhile), and a cancel stops the staging rather than waiting for it.
func TestLongStagingHoldsNoOtherRun(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Stager.Progress = slowStaging{4 * time.Second} })
	ctx := context.Background()
	keys, err := dataset.TenantKeyrings{Root: e.dir}.For("t1")
	if err != nil {
		t.Fatal(err)
	}
	res := addDataset(t, e.dir, keys, testData{name: "corpus-a", origin: "SG", class: catalog.ClassPublic, stored: true})
	a, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{dataJobDoc(20, 10, []string{"corpus-a"}, true, res)}})
	if err != nil {
		t.Fatal(err)
	}
	e.waitFor("the staging", 10*time.Second, func(r *Run) bool { return r.State == Staging }, a.ID)
	b, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(10, 5)}})
	if err != nil {
		t.Fatal(err)
	}
	if b = e.waitFor("the run without data", 30*time.Second, func(r *Run) bool { return r.State.Final() }, b.ID); b.State != Succeeded {
		t.Fatalf("the run without data ended %s: %s", b.State, b.Reason)
	}
	got, err := e.c.Get(ctx, "t1", a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != Staging || got.Staged == got.Attempt {
		t.Fatalf("the staging run is %s (staged %d of attempt %d) by the time the other ended: the other waited for it", got.State, got.Staged, got.Attempt)
	}
	start := time.Now()
	if _, err := e.c.Cancel(ctx, "t1", a.ID); err != nil {
		t.Fatal(err)
	}
	if got = e.waitFor("the cancel", 30*time.Second, func(r *Run) bool { return r.State.Final() }, a.ID); got.State != Cancelled {
		t.Fatalf("the cancelled staging run ended %s: %s", got.State, got.Reason)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the cancel took %v: it waited for the staging", d)
	}
}

// TestLongStepsAtMostWorkers: long steps run beside the loop, but no more
// of them at once than Config.Workers; the others wait their turn, and
// every run ends.
func TestLongStepsAtMostWorkers(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Workers = 1; c.Stager.Progress = slowStaging{300 * time.Millisecond} })
	ctx := context.Background()
	keys, err := dataset.TenantKeyrings{Root: e.dir}.For("t1")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, name := range []string{"corpus-a", "corpus-b"} {
		res := addDataset(t, e.dir, keys, testData{name: name, origin: "SG", class: catalog.ClassPublic, stored: true})
		r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{dataJobDoc(20, 1, []string{name}, true, res)}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	most := 0
	deadline := time.Now().Add(60 * time.Second)
	for {
		e.c.mu.Lock()
		most = max(most, len(e.c.long))
		e.c.mu.Unlock()
		a, _ := e.c.Get(ctx, "t1", ids[0])
		b, _ := e.c.Get(ctx, "t1", ids[1])
		if a.State.Final() && b.State.Final() {
			if a.State != Succeeded || b.State != Succeeded {
				t.Fatalf("runs ended %s (%s) and %s (%s)", a.State, a.Reason, b.State, b.Reason)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("runs still %s and %s after 60 s", a.State, b.State)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if most != 1 {
		t.Errorf("at most %d long steps at once, want 1 (Workers)", most)
	}
}
