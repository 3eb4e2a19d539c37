package run

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
)

// newCkLawFixture is newCkMoveFixture with a job on dataset people
// (origin SG) and the rules state in force, which a test changes.
func newCkLawFixture(t *testing.T) (*ckMoveFixture, *rules.State) {
	t.Helper()
	var rs *rules.State
	doc := jobDoc(100, 10)
	doc.Content = strings.Replace(doc.Content, "  organization: lab\n", "  organization: lab\n  datasets: [people]\n", 1) +
		addDataset(t, t.TempDir(), dataset.Keyring{}, testData{name: "people", origin: "SG", class: catalog.ClassPublic})
	f := newCkMoveFixtureWith(t, rulesInForce(t, &rs), doc)
	return f, rs
}

// rulesInForce makes a controller's law the rules state on its store,
// which it opens into *rs.
func rulesInForce(t *testing.T, rs **rules.State) func(*Config) {
	return func(c *Config) {
		st, err := rules.Open(context.Background(), c.Store, nil)
		if err != nil {
			t.Fatal(err)
		}
		*rs = st
		c.LawNow = func() LawNow {
			cur := st.Current()
			return LawNow{Rev: cur.Rev, Law: planner.PolicyLaw(cur.Engine), Transfer: cur.Engine, Dates: cur.Dates}
		}
		c.Stager.Law = st
	}
}

// TestCheckpointCopyInFlightIsWithdrawnWhenItsTargetTurnsUnlawful: a
// law check that finds the target of a move unlawful while the move's
// copy of the checkpoint is crossing to it leaves nothing at the target
// once the copy ends. The copy took no staging lock, so the check's
// withdrawal removed what had arrived and closed the copy's intent while
// the copy went on: its chunks and manifest landed afterwards, the ledger
// then said the copy was there, and nothing withdrew it before the next
// change of the law.
func TestCheckpointCopyInFlightIsWithdrawnWhenItsTargetTurnsUnlawful(t *testing.T) {
	f, rs := newCkLawFixture(t)
	ctx := context.Background()
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	hook := func(key string) {
		if strings.HasPrefix(key, CheckpointPrefix("t1")) && !strings.HasSuffix(key, dataset.ManifestKey(f.ck.Name)) {
			once.Do(func() {
				close(started)
				<-release
			})
		}
	}
	f.s3.onPut.Store(&hook)
	stepped := make(chan error, 1)
	go func() {
		_, err := f.c.Step(ctx, f.r.ID)
		stepped <- err
	}()
	select {
	case <-started:
	case err := <-stepped:
		t.Fatalf("the step ended (%v) before the copy sent a chunk to bravo", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the copy sent no chunk to bravo")
	}
	// While the chunk crosses, the law stops letting the data go to MY,
	// and the law check runs.
	if _, _, err := rs.Apply(ctx, rules.Change{Files: []policy.File{transferPack("test-no-my", "No data to MY", "transfer.to == 'MY'", "")}}, "admin", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.recheckAll(ctx, f.c.lawNow()); err != nil {
		t.Fatalf("law check: %v", err)
	}
	close(release)
	select {
	case err := <-stepped:
		if err != nil {
			t.Logf("step: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the step did not end once the chunk was let through")
	}
	r, err := f.c.Get(ctx, "t1", f.r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Checkpoint == nil || r.Checkpoint.Site != "alpha" || r.Site == "bravo" {
		t.Fatalf("after the move's target was given up: at %s, checkpoint %+v (%s); want the checkpoint still at alpha", r.Site, r.Checkpoint, r.Reason)
	}
	if evs := eventsOf(t, f.c, r.ID, "checkpoint-moved"); len(evs) != 0 {
		t.Errorf("timeline records a move to the target given up: %q", evs)
	}
	// The withdrawal the check deferred is tried again.
	f.c.lawClock = func() time.Time { return time.Now().Add(time.Hour) }
	f.c.retryWithdrawals(ctx, f.c.lawNow())
	f.s3.mu.Lock()
	var left []string
	for k := range f.s3.objs {
		if strings.HasPrefix(k, CheckpointPrefix("t1")) {
			left = append(left, k)
		}
	}
	f.s3.mu.Unlock()
	if len(left) != 0 {
		t.Errorf("objects of the checkpoint left at bravo, where the law no longer lets its data be: %v", left)
	}
	copies, err := f.c.stagedCopies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, cp := range copies {
		if cp.site == "bravo" {
			t.Errorf("the ledger still lists a copy at bravo: %+v", cp)
		}
	}
}
