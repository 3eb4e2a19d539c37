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
