package run

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/store"
)

// TestSweepOfAGoneStoreIsGivenUpOnRecord: the store of a site the run left
// is gone for good (a file where its directory was). The sweep of it is
// tried again, each wait longer than the last, and after maxSweepFails
// failures in a row it is given up: the site leaves the run's list, and the
// timeline and an audit record say which checkpoints may be left there.
// It was tried every five minutes for ever, and never said so but in the
// log.
func TestSweepOfAGoneStoreIsGivenUpOnRecord(t *testing.T) {
	f, rs, names := newSweepFixture(t)
	ctx := context.Background()
	// The run has left alpha for bravo, its checkpoints left at alpha.
	leftAlphaGone(t, f, rs, Checkpoint{Step: 30, Name: names[0], Site: "alpha"})
	get := func() *Run {
		r, err := f.c.Get(ctx, "t1", f.r.ID)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	var waits []time.Duration
	for i := 1; i < maxSweepFails; i++ {
		f.c.sweepCheckpoints(ctx, f.r.ID)
		r := get()
		if len(r.Swept) != 1 || r.Swept[0].Fails != i {
			t.Fatalf("after %d failed sweeps: swept %+v; want alpha still on the list with %d failures", i, r.Swept, i)
		}
		next := nextSweep(f)
		waits = append(waits, next.Sub(f.clk.Now()))
		f.clk.set(next)
	}
	if first, last := waits[0], waits[len(waits)-1]; last <= withdrawRetryMax || last > sweepRetryMax || first >= last {
		t.Errorf("waits between sweeps %v; want growing past %s, to at most %s", waits, withdrawRetryMax, sweepRetryMax)
	}
	if got := eventsOf(t, f.c, f.r.ID, "checkpoints-left"); len(got) != 0 {
		t.Fatalf("given up before %d failures: %q", maxSweepFails, got)
	}
	f.c.sweepCheckpoints(ctx, f.r.ID)
	if r := get(); len(r.Swept) != 0 {
		t.Fatalf("after %d failed sweeps: swept %+v; want the sweep given up", maxSweepFails, r.Swept)
	}
	got := eventsOf(t, f.c, f.r.ID, "checkpoints-left")
	if len(got) != 1 || !strings.Contains(got[0], "alpha") || !strings.Contains(got[0], names[0]) {
		t.Errorf("timeline's checkpoints-left: %q; want one naming alpha and %s", got, names[0])
	}
	es, err := f.st.AuditEntries(ctx, f.r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var left []map[string]any
	for _, a := range es {
		if a.Kind == KindCheckpointsLeft {
			var m map[string]any
			if err := json.Unmarshal(a.Payload, &m); err != nil {
				t.Fatal(err)
			}
			left = append(left, m)
		}
	}
	if len(left) != 1 || left[0]["site"] != "alpha" || !strings.HasSuffix(left[0]["prefix"].(string), "ckpt-"+f.r.ID+"-") || !strings.Contains(string(mustJSON(t, left[0]["checkpoints"])), names[0]) {
		t.Errorf("audit records of checkpoints left: %v; want one naming alpha, the run's prefix and %s", left, names[0])
	}
	// Nothing is tried again.
	f.c.mu.Lock()
	_, waiting := f.c.sweepWait[f.r.ID]
	f.c.mu.Unlock()
	if waiting {
		t.Error("the run's sweep still waits to be tried again")
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSweepGoesOnPastAFailingStore: a left site whose store fails does
// not hold up the sweep of the run's other left sites: they are judged
// and taken off the list, the failing one counted and kept. The first
// failing store stopped the whole sweep, for as long as it failed.
func TestSweepGoesOnPastAFailingStore(t *testing.T) {
	f, rs, _ := newSweepFixture(t)
	ctx := context.Background()
	noDataToSG(t, rs)
	// alpha's store is gone; bravo, the run's site now, shares its
	// store with the run's attempt and needs no removal.
	if _, err := f.c.update(ctx, f.r.ID, func(r *Run, ch *store.Change) error {
		r.Site = "bravo"
		r.Checkpoint = &Checkpoint{Step: 40, Name: f.ck.Name, Site: "bravo", SHA256: f.ck.SHA256}
		r.Swept = []Sweep{{Site: "alpha"}, {Site: "bravo"}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	alphaStoreGone(t, f)
	f.c.sweepCheckpoints(ctx, f.r.ID)
	r, err := f.c.Get(ctx, "t1", f.r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Swept) != 1 || r.Swept[0].Site != "alpha" {
		t.Fatalf("after a sweep whose first store failed: swept %+v; want only alpha left", r.Swept)
	}
}

// TestSweepOfASiteGoneFromTheCatalogIsGivenUpOnRecord: a left site no
// longer in the catalog is tried again as a failing store is (it may be
// put back), and then given up on record. It was taken off the list at
// once, its checkpoints left in its store with no word of them.
func TestSweepOfASiteGoneFromTheCatalogIsGivenUpOnRecord(t *testing.T) {
	f, _, _ := newSweepFixture(t)
	ctx := context.Background()
	if _, err := f.c.update(ctx, f.r.ID, func(r *Run, ch *store.Change) error {
		r.Swept = []Sweep{{Site: "gone"}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= maxSweepFails; i++ {
		f.c.sweepCheckpoints(ctx, f.r.ID)
		r, err := f.c.Get(ctx, "t1", f.r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if i < maxSweepFails && (len(r.Swept) != 1 || r.Swept[0].Fails != i) {
			t.Fatalf("after %d sweeps: swept %+v; want the site kept, %d failures counted", i, r.Swept, i)
		}
		if i == maxSweepFails && len(r.Swept) != 0 {
			t.Fatalf("after %d sweeps: swept %+v; want it given up", i, r.Swept)
		}
		next := nextSweep(f)
		f.clk.set(next)
	}
	if got := eventsOf(t, f.c, f.r.ID, "checkpoints-left"); len(got) != 1 || !strings.Contains(got[0], "gone") || !strings.Contains(got[0], "catalog") {
		t.Errorf("timeline's checkpoints-left: %q; want one naming the site and why", got)
	}
}

// TestSweepFailuresCountedAcrossARestart: a left site's store down for
// hours is not given up early because the server restarted meanwhile. Its
// failures are on the run's record, and the wait before the next sweep is
// as long after a restart as before it. The wait started again from
// seconds while the failures went on counting, so a restart late in the
// outage spent the rest of maxSweepFails within the hour and gave up a
// store that was only down for maintenance.
func TestSweepFailuresCountedAcrossARestart(t *testing.T) {
	f, rs, _ := newSweepFixture(t)
	ctx := context.Background()
	leftAlphaGone(t, f, rs)
	// Half the failures, each at its time.
	for i := 0; i < maxSweepFails/2; i++ {
		f.c.sweepCheckpoints(ctx, f.r.ID)
		next := nextSweep(f)
		f.clk.set(next)
	}
	// The server restarts: a controller on the same store, and two hours
	// of its steps, a minute apart.
	c := New(f.c.cfg)
	for range 120 {
		c.sweepCheckpoints(ctx, f.r.ID)
		f.clk.set(f.clk.Now().Add(time.Minute))
	}
	r, err := c.Get(ctx, "t1", f.r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Swept) != 1 || r.Swept[0].Fails >= maxSweepFails/2+4 {
		t.Errorf("two hours after a restart, %d failures before it: swept %+v, timeline %q; want alpha still on the list, swept about hourly", maxSweepFails/2, r.Swept, eventsOf(t, c, r.ID, "checkpoints-left"))
	}
}

// noDataToSG makes the law deny moving data to SG (alpha's country).
func noDataToSG(t *testing.T, rs *rules.State) {
	t.Helper()
	if _, _, err := rs.Apply(context.Background(), rules.Change{Files: []policy.File{transferPack("test-no-sg", "No data to SG", "transfer.to == 'SG'", "")}}, "admin", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
}

// leftAlphaGone makes f's run one that left alpha for bravo, alpha
// still to sweep (older, if any, its older checkpoints), with the law
// denying data to alpha's country and alpha's store gone.
func leftAlphaGone(t *testing.T, f *ckMoveFixture, rs *rules.State, older ...Checkpoint) {
	t.Helper()
	noDataToSG(t, rs)
	if _, err := f.c.update(context.Background(), f.r.ID, func(r *Run, ch *store.Change) error {
		r.Site = "bravo"
		if len(older) > 0 {
			r.Older = older
		}
		r.Checkpoint = &Checkpoint{Step: 40, Name: f.ck.Name, Site: "bravo", SHA256: f.ck.SHA256}
		r.Swept = []Sweep{{Site: "alpha"}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	alphaStoreGone(t, f)
}

// nextSweep is when f's controller next sweeps f's run.
func nextSweep(f *ckMoveFixture) time.Time {
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	return f.c.sweepWait[f.r.ID].next
}

// alphaStoreGone puts a plain file where alpha's store was: every open,
// list and removal there fails.
func alphaStoreGone(t *testing.T, f *ckMoveFixture) {
	t.Helper()
	alpha, err := f.c.Site("alpha")
	if err != nil {
		t.Fatal(err)
	}
	dir := strings.TrimPrefix(f.c.SiteStore(alpha), "file://")
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, []byte("not a store"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSweepWaitSurvivesRestarts: a server that restarts every minute
// while a left site's store is down does not try that store at each start.
// The wait after a failure is on the run's record, and a start keeps to
// it: an hour of restarts spends a few of maxSweepFails, not sixty. Each
// start tried every pending sweep at once and counted a failure, so a
// crash-looping server gave up a store down for only twenty minutes.
func TestSweepWaitSurvivesRestarts(t *testing.T) {
	f, rs, _ := newSweepFixture(t)
	ctx := context.Background()
	leftAlphaGone(t, f, rs)
	start := f.clk.Now()
	for range 60 {
		New(f.c.cfg).sweepCheckpoints(ctx, f.r.ID)
		f.clk.set(f.clk.Now().Add(time.Minute))
	}
	r, err := f.c.Get(ctx, "t1", f.r.ID)
	if err != nil {
		t.Fatal(err)
	}
	// The waits double from withdrawRetry: the failures an hour allows.
	want, at := 0, start
	for !at.After(f.clk.Now()) {
		want++
		at = at.Add(sweepWaitAfter(want))
	}
	if len(r.Swept) != 1 || r.Swept[0].Fails > want {
		t.Errorf("an hour of restarts a minute apart: swept %+v; want alpha still on the list with at most %d failures", r.Swept, want)
	}
}
