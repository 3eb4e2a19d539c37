package run

import (
	"context"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/transfer"
)

// keyHoldFixture is a hand-stepped controller on a test clock whose
// keyrings are confirmed against its store's audit log, as a server's are,
// and a run of tenant t1 over its stored dataset corpus-c, whose key was
// written into the keyring file with no record of it.
func keyHoldFixture(t *testing.T) (*Controller, *clock, dataset.Keyring, *Run) {
	t.Helper()
	ctx := context.Background()
	st, dir := testStore(t)
	traversable(t, dir)
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	file, _ := dataset.TenantKeyrings{Root: dir}.For("t1") // the file, as anyone writes it
	tk := dataset.TenantKeyrings{Root: dir, Witness: &dataset.KeyWitness{Log: st, Chain: audit.NewChain(testAuditKey),
		Remedy: "send the key again (meridian dataset send-key NAME)"}}
	cfg := sitesConfig(st, dir)
	cfg.Now, cfg.HoldRetry = clk.Now, time.Second
	cfg.Stager = &transfer.Stager{Law: transfer.BasisLaw{}, Keys: tk, Ledger: transfer.AuditLedger{Store: st}, Now: clk.Now}
	c := handStepped(t, cfg)
	// The run's job, once submitted, would outlive the test and hold files
	// in its directory at cleanup.
	t.Cleanup(func() { endLocalJobs(t, c.cfg.StateDir) })
	res := addDataset(t, dir, file, testData{name: "corpus-c", origin: "SG", class: catalog.ClassPublic, stored: true})
	r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{dataJobDoc(10, 5, []string{"corpus-c"}, true, res)}})
	if err != nil {
		t.Fatal(err)
	}
	return c, clk, file, r
}

// stepUntil steps run id until it leaves the states in while (at most n
// steps), and returns it.
func stepUntil(t *testing.T, c *Controller, id string, n int, while ...State) *Run {
	t.Helper()
	ctx := context.Background()
	var r *Run
	for i := 0; i < n; i++ {
		if _, err := c.Step(ctx, id); err != nil {
			t.Logf("step %d: %v", i, err)
		}
		var err error
		if r, err = c.Get(ctx, "t1", id); err != nil {
			t.Fatal(err)
		}
		stay := false
		for _, s := range while {
			stay = stay || r.State == s
		}
		if !stay {
			break
		}
	}
	return r
}

// TestRunHeldWhileItsDatasetKeyIsRefused: a run whose staging met a
// dataset key the server refuses (one the audit log does not record: the
// tenant's to resolve by sending the key again) failed, and a failed run
// is final: the tenant had to submit the job again. It now waits held,
// the hold naming the dataset and the way out, and is tried again on the
// held runs' bounded wait (not at every step); once the key is sent again
// (PutKey, as `dataset send-key` makes it), the next try stages the data
// and the run goes on.
func TestRunHeldWhileItsDatasetKeyIsRefused(t *testing.T) {
	ctx := context.Background()
	c, clk, file, r := keyHoldFixture(t)
	planted, err := file.Get("corpus-c")
	if err != nil {
		t.Fatal(err)
	}
	r = stepUntil(t, c, r.ID, 6, Planned, Staging)
	if r.State != Held || r.Hold == nil {
		t.Fatalf("run with its dataset key refused: %s (%s); want held", r.State, r.Reason)
	}
	for _, want := range []string{"corpus-c", "meridian dataset send-key corpus-c"} {
		if !strings.Contains(r.Hold.Reason, want) || !strings.Contains(r.Reason, want) {
			t.Errorf("hold reason %q (state reason %q) does not name %q", r.Hold.Reason, r.Reason, want)
		}
	}
	wait := r.Hold.NextTry.Sub(clk.Now())
	if wait <= 0 || wait > moveHoldMax {
		t.Fatalf("held run's next try in %s; want within (0, %s]", wait, moveHoldMax)
	}
	// Before its time the held run is not tried again.
	attempt := r.Attempt
	for i := 0; i < 3; i++ {
		c.Step(ctx, r.ID)
	}
	if r, _ = c.Get(ctx, "t1", r.ID); r.State != Held || r.Attempt != attempt {
		t.Fatalf("steps before the hold's next try: %s attempt %d (%s); want still held at attempt %d", r.State, r.Attempt, r.Reason, attempt)
	}
	// Tried again while the key is still refused: held again, with a
	// wait no shorter than the first (the held runs' backoff), not failed.
	clk.set(r.Hold.NextTry.Add(time.Second))
	since := r.Hold.Since
	r = stepUntil(t, c, r.ID, 4, Held)
	r = stepUntil(t, c, r.ID, 8, Migrating, Planned, Staging)
	if r.State != Held || r.Hold == nil || !strings.Contains(r.Hold.Reason, "send-key corpus-c") {
		t.Fatalf("the retry with the key still refused: %s (%s); want held again", r.State, r.Reason)
	}
	if !r.Hold.Since.Equal(since) {
		t.Errorf("held again since %s, want since the first hold %s", r.Hold.Since, since)
	}
	if again := r.Hold.NextTry.Sub(clk.Now()); again < wait || again > moveHoldMax {
		t.Errorf("held again with the next try in %s; want in [%s, %s]", again, wait, moveHoldMax)
	}

	// The tenant sends the key again: the next try stages and runs.
	if err := c.PutKey(ctx, "t1", "corpus-c", planted.String()); err != nil {
		t.Fatal(err)
	}
	clk.set(r.Hold.NextTry.Add(time.Second))
	r = stepUntil(t, c, r.ID, 4, Held)
	r = stepUntil(t, c, r.ID, 8, Migrating, Planned, Staging)
	if r.State != Queued && r.State != Running && r.State != Succeeded {
		t.Fatalf("after the key was sent again: %s (%s); want the run submitted", r.State, r.Reason)
	}
	if r.Staged != r.Attempt {
		t.Errorf("run %s staged %d of attempt %d", r.State, r.Staged, r.Attempt)
	}
}

// TestRunHeldWhileItsDatasetKeyIsMissing: a run whose dataset's key the
// server does not hold at all waits held the same way, naming the dataset
// and `dataset send-key`, rather than fail.
func TestRunHeldWhileItsDatasetKeyIsMissing(t *testing.T) {
	ctx := context.Background()
	c, clk, file, r := keyHoldFixture(t)
	key, err := file.Get("corpus-c")
	if err != nil {
		t.Fatal(err)
	}
	if err := file.Remove("corpus-c"); err != nil {
		t.Fatal(err)
	}
	r = stepUntil(t, c, r.ID, 6, Planned, Staging)
	if r.State != Held || r.Hold == nil || !strings.Contains(r.Hold.Reason, "meridian dataset send-key corpus-c") {
		t.Fatalf("run with its dataset key missing: %s (%s); want held naming corpus-c and send-key", r.State, r.Reason)
	}
	if err := c.PutKey(ctx, "t1", "corpus-c", key.String()); err != nil {
		t.Fatal(err)
	}
	clk.set(r.Hold.NextTry.Add(time.Second))
	r = stepUntil(t, c, r.ID, 4, Held)
	r = stepUntil(t, c, r.ID, 8, Migrating, Planned, Staging)
	if r.State != Queued && r.State != Running && r.State != Succeeded {
		t.Fatalf("after the key was sent: %s (%s); want the run submitted", r.State, r.Reason)
	}
}
