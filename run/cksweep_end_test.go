package run

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// cutStore is a store whose hooks cut a step's context where the loop's
// cancel can land: onStaging once a write leaves a run staging (a move
// written, which ends the move's long step), onWithdrawn just before a
// withdrawal's record is written (its objects already deleted). Each hook
// runs once.
type cutStore struct {
	store.Store
	mu                     sync.Mutex
	onStaging, onWithdrawn func()
}

func (s *cutStore) set(hook *func(), f func()) {
	s.mu.Lock()
	*hook = f
	s.mu.Unlock()
}

func (s *cutStore) fire(hook *func()) {
	s.mu.Lock()
	f := *hook
	*hook = nil
	s.mu.Unlock()
	if f != nil {
		f()
	}
}

func (s *cutStore) UpdateRun(ctx context.Context, id string, fn func(r *store.Run) (store.Change, error)) (*store.Run, error) {
	row, err := s.Store.UpdateRun(ctx, id, fn)
	if err == nil && row != nil && row.State == string(Staging) {
		s.fire(&s.onStaging)
	}
	return row, err
}

func (s *cutStore) AppendAudit(ctx context.Context, recs ...audit.Record) error {
	for _, rec := range recs {
		if rec.Kind == transfer.KindWithdrawn {
			s.fire(&s.onWithdrawn)
			break
		}
	}
	return s.Store.AppendAudit(ctx, recs...)
}

// newCutSweepFixture is newSweepFixture over a cutStore, with SG (alpha)
// closed to the run's data from now on. It returns the controller's
// config too, for a second controller over the same state.
func newCutSweepFixture(t *testing.T) (*ckMoveFixture, *cutStore, *Config, []string) {
	t.Helper()
	var cfg *Config
	cs := &cutStore{}
	f, rs, names := newSweepFixtureWith(t, func(c *Config) {
		cs.Store = c.Store
		c.Store = cs
		cfg = c
	})
	if _, _, err := rs.Apply(context.Background(), rules.Change{Files: []policy.File{transferPack("test-no-sg", "No data to SG", "transfer.to == 'SG'", "")}}, "admin", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	return f, cs, cfg, names
}

// checkpointWithdrawals are the run's withdrawals of checkpoints recorded
// at site, by checkpoint name.
func checkpointWithdrawals(t *testing.T, f *ckMoveFixture, site string) map[string]transfer.Withdrawn {
	t.Helper()
	out := map[string]transfer.Withdrawn{}
	for _, w := range withdrawalsOf(t, f, f.r.ID) {
		if w.Kind == transfer.KindCheckpoint && w.Site == site {
			out[w.Dataset] = w
		}
	}
	return out
}

// withdrawalsOf are the withdrawals on run id's audit record, in order.
func withdrawalsOf(t *testing.T, f *ckMoveFixture, id string) []transfer.Withdrawn {
	t.Helper()
	es, err := f.st.AuditEntries(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []transfer.Withdrawn
	for _, a := range es {
		if a.Kind != transfer.KindWithdrawn {
			continue
		}
		var w transfer.Withdrawn
		if err := json.Unmarshal(a.Payload, &w); err != nil {
			t.Fatal(err)
		}
		out = append(out, w)
	}
	return out
}

// checkNoSGWithdrawal checks that w is the withdrawal of a checkpoint of
// run id at alpha, of some objects, under the rule test-no-sg.
func checkNoSGWithdrawal(t *testing.T, w transfer.Withdrawn, id string) {
	t.Helper()
	if w.Kind != transfer.KindCheckpoint || w.Run != id || w.Site != "alpha" || w.To != "SG" || len(w.Rules) != 1 || w.Rules[0] != "test-no-sg" || w.Objects == 0 {
		t.Errorf("withdrawal %+v; want a checkpoint of the run at alpha under test-no-sg", w)
	}
}

// checkAlphaSwept checks that the sweep of alpha the run r left is done:
// of the checkpoints there only other's, another run's, is left, and r's
// swept list is empty. when, if not empty, says after what, in a message.
func checkAlphaSwept(t *testing.T, f *ckMoveFixture, r *Run, other, when string) {
	t.Helper()
	if got := checkpointsAt(t, f, "alpha"); len(got) != 1 || got[0] != other {
		t.Errorf("checkpoints at alpha%s: %v; want only another run's %s", when, got, other)
	}
	if len(r.Swept) != 0 {
		t.Errorf("swept list %+v; want it done", r.Swept)
	}
}

// TestLeftSiteSweptAfterTheMoveStepIsCut: under the loop a move is a long
// step, whose context the loop cancels once it sees the run has moved on.
// The sweep of the site the run left is not done under that context but
// at the run's next step: there, with no wait, the checkpoints the law no
// longer lets be at alpha are removed and recorded.
func TestLeftSiteSweptAfterTheMoveStepIsCut(t *testing.T) {
	f, cs, _, names := newCutSweepFixture(t)
	older, resume, other := names[0], names[1], names[2]
	mctx, cut := context.WithCancel(context.Background())
	defer cut()
	cs.set(&cs.onStaging, cut)
	if _, err := f.c.Step(mctx, f.r.ID); err != nil {
		t.Logf("move step: %v", err)
	}
	r, err := f.c.Get(context.Background(), "t1", f.r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != Staging || r.Checkpoint == nil || r.Checkpoint.Site != "bravo" {
		t.Fatalf("after the move: %s (%s), checkpoint %+v; want staging from bravo", r.State, r.Reason, r.Checkpoint)
	}
	r = f.step(t)
	if w := checkpointWithdrawals(t, f, "alpha"); len(w) != 2 || w[older].Objects == 0 || w[resume].Objects == 0 {
		t.Errorf("withdrawals recorded at alpha: %+v; want %s and %s", w, older, resume)
	}
	checkAlphaSwept(t, f, r, other, " at the step after the move")
}

// TestCheckpointWithdrawalRecordedWhenItsStepIsCut: a sweep whose step's
// context ends as a checkpoint's withdrawal is recorded records each
// withdrawal once, and every checkpoint's. Lost, a record would never be
// written: the next try finds nothing left of that checkpoint to remove;
// written for a removal the cut then stopped, it was written again by
// the pass that removed it.
func TestCheckpointWithdrawalRecordedWhenItsStepIsCut(t *testing.T) {
	f, cs, _, names := newCutSweepFixture(t)
	older, resume, other := names[0], names[1], names[2]
	ctx := context.Background()
	// A staging holds alpha's store while the run moves: its sweep waits.
	alpha, err := f.c.Site("alpha")
	if err != nil {
		t.Fatal(err)
	}
	_, unlock, err := f.c.lockStaging(ctx, f.c.SiteStore(alpha)+"|t1")
	if err != nil {
		t.Fatal(err)
	}
	r := f.step(t)
	r = f.step(t)
	unlock()
	if r.Checkpoint == nil || r.Checkpoint.Site != "bravo" || len(r.Swept) == 0 {
		t.Fatalf("after the move: %s (%s), checkpoint %+v, swept %+v; want moved to bravo with alpha still to sweep", r.State, r.Reason, r.Checkpoint, r.Swept)
	}
	// The sweep's try is cut as the first removal is recorded.
	f.clk.set(f.clk.Now().Add(10 * time.Minute))
	sctx, cut := context.WithCancel(ctx)
	defer cut()
	cs.set(&cs.onWithdrawn, cut)
	if _, err := f.c.Step(sctx, f.r.ID); err != nil {
		t.Logf("cut step: %v", err)
	}
	for range 3 {
		f.clk.set(f.clk.Now().Add(10 * time.Minute))
		r = f.step(t)
	}
	if w := checkpointWithdrawals(t, f, "alpha"); len(w) != 2 || w[older].Objects == 0 || w[resume].Objects == 0 {
		t.Errorf("withdrawals recorded at alpha: %+v; want %s and %s, each with the objects it removed", w, older, resume)
	}
	// Each once: a record written for a removal the cut then stopped
	// is written again by the pass that removes it.
	if w := withdrawalsOf(t, f, r.ID); len(w) != 2 {
		t.Errorf("%d withdrawal entries: %+v; want one for each of %s and %s", len(w), w, older, resume)
	}
	checkAlphaSwept(t, f, r, other, "")
}

// TestCheckpointWithdrawalRecordsTheDayJudged: a site left ahead of a
// rule's date is judged as of that date, and its withdrawals say so, not
// the day the removal happened to run.
func TestCheckpointWithdrawalRecordsTheDayJudged(t *testing.T) {
	f, rs, names := newSweepFixture(t)
	older := names[0]
	ctx := context.Background()
	// No data to SG (alpha) from a month on.
	pack := transferPack("test-no-sg-soon", "No data to SG from July", "transfer.to == 'SG'", "")
	pack.Data = []byte(strings.Replace(string(pack.Data), "effectiveFrom: 2020-01-01", "effectiveFrom: 2026-07-01", 1))
	if _, _, err := rs.Apply(ctx, rules.Change{Files: []policy.File{pack}}, "admin", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	// The move was ahead of that date: its sweep judges alpha as of it.
	if _, err := f.c.update(ctx, f.r.ID, func(r *Run, ch *store.Change) error {
		r.Migration.Until = "2026-07-01"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	f.step(t)
	r := f.step(t)
	if len(r.Swept) != 0 {
		t.Fatalf("swept list %+v; want it done", r.Swept)
	}
	w := checkpointWithdrawals(t, f, "alpha")
	if len(w) != 2 {
		t.Fatalf("withdrawals recorded at alpha: %+v; want the run's two", w)
	}
	if got := w[older].AsOf; got != "2026-07-01" {
		t.Errorf("withdrawal of %s as of %q; want 2026-07-01, the day alpha was judged as of (today is %s)", older, got, f.c.today())
	}
}

// endWhileSweepWaits moves the run of a cut-sweep fixture while a staging
// holds alpha's store, so that its sweep of alpha waits, and cancels it:
// the run ends with alpha still on its swept list. The lock is released.
func endWhileSweepWaits(t *testing.T, f *ckMoveFixture) {
	t.Helper()
	ctx := context.Background()
	alpha, err := f.c.Site("alpha")
	if err != nil {
		t.Fatal(err)
	}
	_, unlock, err := f.c.lockStaging(ctx, f.c.SiteStore(alpha)+"|t1")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	f.step(t)
	if _, err := f.c.Cancel(ctx, "t1", f.r.ID); err != nil {
		t.Fatal(err)
	}
	var r *Run
	for range 4 {
		if r = f.step(t); r.State.Final() {
			break
		}
	}
	if r.State != Cancelled || !slices.ContainsFunc(r.Swept, func(sw Sweep) bool { return sw.Site == "alpha" }) {
		t.Fatalf("after the cancel: %s (%s), swept %+v; want cancelled with alpha still to sweep", r.State, r.Reason, r.Swept)
	}
}

// TestEndedRunsLeftSiteSwept: a run that ends while the removal at a site
// it left waits to be tried again (a staging held the store) is no longer
// stepped; the loop still sweeps that site once the wait is over.
func TestEndedRunsLeftSiteSwept(t *testing.T) {
	f, _, _, names := newCutSweepFixture(t)
	other := names[2]
	endWhileSweepWaits(t, f)
	f.clk.set(f.clk.Now().Add(10 * time.Minute))
	f.c.Tick(context.Background())
	r, err := f.c.Get(context.Background(), "t1", f.r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if w := checkpointWithdrawals(t, f, "alpha"); len(w) != 2 {
		t.Errorf("withdrawals recorded at alpha: %+v; want the run's two", w)
	}
	checkAlphaSwept(t, f, r, other, " after the ended run's wait")
}

// TestEndedRunsLeftSiteSweptAfterARestart: the same, by a controller that
// started after the run ended (a restart, or another server leading),
// which knows of no wait: it finds the run among the ended ones.
func TestEndedRunsLeftSiteSweptAfterARestart(t *testing.T) {
	f, _, cfg, names := newCutSweepFixture(t)
	other := names[2]
	endWhileSweepWaits(t, f)
	f.c = New(*cfg)
	f.c.Tick(context.Background())
	r, err := f.c.Get(context.Background(), "t1", f.r.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkAlphaSwept(t, f, r, other, " after a restart")
}
