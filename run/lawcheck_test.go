package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// flakyRuns is a store whose run listing fails while fail is set; lists
// counts the listings asked for.
type flakyRuns struct {
	store.Store
	fail  atomic.Bool
	lists atomic.Int64
}

func (s *flakyRuns) ListRuns(ctx context.Context, o store.ListOptions) ([]*store.Run, error) {
	s.lists.Add(1)
	if s.fail.Load() {
		return nil, errors.New("database is locked")
	}
	return s.Store.ListRuns(ctx, o)
}

// testAuditKey is the audit key of testStore's stores.
var testAuditKey = []byte("test key 0123456")

// testStore opens a SQLite store in a new test directory, closed when the
// test ends. The local jobs a test starts under the directory (a site's
// state directory is one of its sites/NAME) are cancelled and waited for
// before it is removed (endLocalJobs): one still running wrote in it as
// it was removed, and the test failed at its cleanup.
func testStore(t testing.TB) (*store.SQLite, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "m.db"), store.Options{AuditKey: testAuditKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	// Registered after TempDir's removal and the store's close, so run
	// before both: an agent's report reaches a store still open.
	t.Cleanup(func() { endLocalJobs(t, dir) })
	return st, dir
}

// lawCheckFixture is a SQLite store in a test directory with the rules on
// it, for controllers built over a wrapper of the store (not running their
// loops), as one server or as a restarted one.
type lawCheckFixture struct {
	t       testing.TB
	dir     string
	st      *store.SQLite
	rs      *rules.State
	wrapped store.Store
}

func newLawCheckFixture(t testing.TB, wrap func(store.Store) store.Store) *lawCheckFixture {
	t.Helper()
	ctx := context.Background()
	st, dir := testStore(t)
	rs, err := rules.Open(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &lawCheckFixture{t: t, dir: dir, st: st, rs: rs, wrapped: wrap(st)}
}

// lawNow is the law in force, as the server gives it.
func (f *lawCheckFixture) lawNow() LawNow {
	cur := f.rs.Current()
	return LawNow{Rev: cur.Rev, Law: planner.PolicyLaw(cur.Engine), Dates: cur.Dates}
}

// controller is a controller over the wrapped store, planning under the
// rules in force; mod changes its configuration. Where mod gave it agents
// (agentConfig, on the fixture's test), the local jobs under the
// fixture's directory are ended before the agents' server closes.
func (f *lawCheckFixture) controller(mod func(*Config)) *Controller {
	law := f.rs.Law()
	cfg := Config{Store: f.wrapped, StateDir: f.dir, CatalogDir: "testdata/sites",
		Plan: func(ctx context.Context, w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
			return planner.Make(w, job, planner.Options{AsOf: asOf, ExcludeSites: exclude, Rules: law})
		},
		LawNow: f.lawNow}
	if mod != nil {
		mod(&cfg)
	}
	if cfg.AgentCommand != nil {
		// Registered after the server agentConfig started (on f.t, as
		// every fixture here gives it), so run before it and the store
		// close: a job's agent, stopped, can still report its stop. With
		// both closed it could not, and a job that ends only once its
		// agent has reported ended at the stop's grace, killed.
		f.t.Cleanup(func() { endLocalJobs(f.t, f.dir) })
	}
	return New(cfg)
}

// stagingController is controller with a stager, the law for staged
// copies and the sites' backends: one that stages and checks copies.
func (f *lawCheckFixture) stagingController(mod func(*Config)) *Controller {
	return f.controller(func(cfg *Config) {
		cfg.Stager = &transfer.Stager{Law: f.rs, Keys: dataset.TenantKeyrings{Root: f.dir}, Ledger: transfer.AuditLedger{Store: f.st}}
		cfg.LawNow = func() LawNow {
			ln := f.lawNow()
			ln.Transfer = f.rs.Current().Engine
			return ln
		}
		cfg.Backends = func(site *catalog.Site, root string) (backend.Backend, error) {
			return backend.For(site.Spec.Backend, root)
		}
		if mod != nil {
			mod(cfg)
		}
	})
}

// TestLawCheckNotRecordedWhenRunsUnread: a law check that could not read
// the live runs checked none of them; it must not be recorded as done, or
// the runs a new revision makes unlawful would run on until the law next
// changes. The next tick checks them.
func TestLawCheckNotRecordedWhenRunsUnread(t *testing.T) {
	ctx := context.Background()
	var fs *flakyRuns
	f := newLawCheckFixture(t, func(st store.Store) store.Store { fs = &flakyRuns{Store: st}; return fs })
	c, st, rs := f.controller(nil), f.st, f.rs
	r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(10, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Site != "alpha" {
		t.Fatalf("placed at %s, want alpha", r.Site)
	}
	c.lawTick(ctx) // the first check
	if _, _, err := rs.Apply(ctx, rules.Change{Files: []policy.File{denyPack("test-no-sg", "SG", "2020-01-01")}}, "admin", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	fs.fail.Store(true)
	c.lawTick(ctx)
	if rev, _, err := st.LawCheck(ctx); err != nil || rev != 0 {
		t.Fatalf("a check that read no run was recorded for revision %d (%v)", rev, err)
	}
	fs.fail.Store(false)
	c.lawTick(ctx)
	if rev, _, err := st.LawCheck(ctx); err != nil || rev != 1 {
		t.Fatalf("law check after the store recovered: revision %d (%v), want 1", rev, err)
	}
	if got, err := c.Get(ctx, "t1", r.ID); err != nil || got.State != Migrating {
		t.Fatalf("run at the now unlawful alpha: %s (%v), want migrating", got.State, err)
	}
}

// brokenLaw is a law whose rules cannot be evaluated.
type brokenLaw struct{}

func (brokenLaw) Session(policy.Query) (planner.Session, error) {
	return nil, errors.New("rule test-broken: no such attribute 'site.tier'")
}

// failingUpdates is a store whose run updates fail while fail is set:
// every run's, or only run only's when that is set.
type failingUpdates struct {
	store.Store
	fail atomic.Bool
	only atomic.Value // string
}

func (s *failingUpdates) UpdateRun(ctx context.Context, id string, fn func(*store.Run) (store.Change, error)) (*store.Run, error) {
	if only, _ := s.only.Load().(string); s.fail.Load() && (only == "" || only == id) {
		return nil, errors.New("disk I/O error")
	}
	return s.Store.UpdateRun(ctx, id, fn)
}

// TestLawCheckLeavesRunsItCannotJudge: a law in force that cannot be
// evaluated for a live run's placement fails closed. The run does not go
// on as if it were lawful: it leaves as an unlawful one would, with the
// engine's reason, and the check names it undetermined. When what the check
// decided could not be written, the check is not recorded, so the next
// tick tries again.
func TestLawCheckLeavesRunsItCannotJudge(t *testing.T) {
	ctx := context.Background()
	var fs *failingUpdates
	var broken atomic.Bool
	f := newLawCheckFixture(t, func(st store.Store) store.Store { fs = &failingUpdates{Store: st}; return fs })
	c := f.controller(func(c *Config) {
		c.LawNow = func() LawNow {
			ln := f.lawNow()
			if broken.Load() {
				ln.Rev, ln.Law = ln.Rev+1, brokenLaw{}
			}
			return ln
		}
	})
	st := f.st
	r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(10, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	c.lawTick(ctx) // the first check: lawful
	if got, err := c.Get(ctx, "t1", r.ID); err != nil || got.State.Final() || got.State == Migrating {
		t.Fatalf("run after a check it passed: %s (%v)", got.State, err)
	}
	broken.Store(true)
	fs.fail.Store(true)
	c.lawTick(ctx)
	if rev, _, err := st.LawCheck(ctx); err != nil || rev != 0 {
		t.Fatalf("a check whose decision could not be written was recorded for revision %d (%v)", rev, err)
	}
	fs.fail.Store(false)
	c.lawTick(ctx)
	if rev, _, err := st.LawCheck(ctx); err != nil || rev != 1 {
		t.Fatalf("law check once writes work: revision %d (%v), want 1", rev, err)
	}
	got, err := c.Get(ctx, "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != Migrating || got.Migration == nil || !strings.Contains(got.Migration.Reason, "could not be evaluated") ||
		!strings.Contains(got.Migration.Reason, "site.tier") {
		t.Fatalf("run the law could not be judged for: %s %+v, want it migrating with the engine's reason", got.State, got.Migration)
	}
	if got.Migration.Rule != policy.EngineRule {
		t.Errorf("migration rule %q, want %q", got.Migration.Rule, policy.EngineRule)
	}
	ents, err := st.AuditEntries(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range ents {
		if e.Kind == KindLawCheck && strings.Contains(string(e.Payload), `"undetermined":["`+r.ID+`"]`) {
			found = true
		}
	}
	if !found {
		t.Error("no law-check record names the run undetermined")
	}
}

// TestLawCheckForCopyFactRetried: a check that runs because a staged
// copy's facts changed (here, the licence its organisation staged it
// under expired: a day in no rule and no run's horizon, found by
// copyFactDay) and then fails is not recorded, and the next tick runs it
// again, the same day, as a check for a new revision or a rule's day
// would be: the copy is withdrawn then.
func TestLawCheckForCopyFactRetried(t *testing.T) {
	ctx := context.Background()
	var fs *flakyRuns
	f := newLawCheckFixture(t, func(st store.Store) store.Store { fs = &flakyRuns{Store: st}; return fs })
	// At 09:00 UTC no later day than the 10th has begun anywhere: the
	// check is recorded for the 10th (it records the latest day begun).
	clk := &clock{t: time.Date(2026, 6, 10, 9, 0, 0, 0, time.UTC)}
	c := f.stagingController(func(cfg *Config) { cfg.Now, cfg.Stager.Now = clk.Now, clk.Now })
	if _, _, err := f.rs.Apply(ctx, rules.Change{Files: []policy.File{licencedTransferPack("test-licenced-sg", "SG")}}, "admin", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	stageCorpus(t, c, f.dir, "{rule: test-licenced-sg, expires: 2026-06-15}")
	c.lawTick(ctx) // the first check
	if _, day, err := f.st.LawCheck(ctx); err != nil || day != "2026-06-10" {
		t.Fatalf("first check recorded for %q (%v)", day, err)
	}
	clk.set(time.Date(2026, 6, 16, 0, 30, 0, 0, time.UTC))
	fs.fail.Store(true)
	c.lawTick(ctx)
	if _, day, err := f.st.LawCheck(ctx); err != nil || day != "2026-06-10" {
		t.Fatalf("a check that read no run was recorded for %q (%v)", day, err)
	}
	if firstWithdrawal(t, f.st) != nil {
		t.Fatal("the failed check withdrew the copy")
	}
	fs.fail.Store(false)
	c.lawTick(ctx)
	if _, day, err := f.st.LawCheck(ctx); err != nil || day != "2026-06-16" {
		t.Fatalf("law check after the store recovered: last on %q (%v), want 2026-06-16", day, err)
	}
	// The check ran for the licence's end, not for a rule's day.
	es, err := f.st.AuditSelect(ctx, store.AuditQuery{Kinds: []string{KindLawCheck}, AllTenants: true})
	if err != nil || len(es) == 0 {
		t.Fatalf("law-check entries: %d, %v", len(es), err)
	}
	var last struct{ Why string }
	if err := json.Unmarshal(es[len(es)-1].Payload, &last); err != nil || !strings.Contains(last.Why, "licence of organisation lab") {
		t.Errorf("the recorded check ran for %q (%v), want the licence's end", last.Why, err)
	}
	if firstWithdrawal(t, f.st) == nil {
		t.Error("the copy staged under the expired licence was not withdrawn")
	}
}

// flakyResources is a store whose registered resources cannot be read
// while fail is set.
type flakyResources struct {
	store.Store
	fail  atomic.Bool
	reads atomic.Int64
	// failHolds fails the read of what the runs hold.
	failHolds atomic.Bool
}

func (s *flakyResources) Holds(ctx context.Context) ([]store.TenantHold, error) {
	if s.failHolds.Load() {
		return nil, errors.New("connection reset by peer")
	}
	return s.Store.Holds(ctx)
}

func (s *flakyResources) ListResources(ctx context.Context, tenant, kind string) ([]*store.Resource, error) {
	s.reads.Add(1)
	if s.fail.Load() {
		return nil, errors.New("connection reset by peer")
	}
	return s.Store.ListResources(ctx, tenant, kind)
}

// TestLawCheckStoreFailureMovesNoRun: a law check that cannot read a run's
// registered documents for a moment (the store failing) has not judged the
// run; it does not move it under the engine's fail-closed rule, as if the
// law could not be evaluated for its placement. The check is not recorded,
// and the next tick judges the run.
func TestLawCheckStoreFailureMovesNoRun(t *testing.T) {
	ctx := context.Background()
	var fs *flakyResources
	f := newLawCheckFixture(t, func(st store.Store) store.Store { fs = &flakyResources{Store: st}; return fs })
	st, rs := f.st, f.rs
	server := func() *Controller { return f.controller(nil) }
	c := server()
	r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(10, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	c.lawTick(ctx) // the first check
	// A new revision that leaves alpha lawful; a restarted server, which
	// has not read the run's documents yet, checks while the store fails.
	if _, _, err := rs.Apply(ctx, rules.Change{Files: []policy.File{denyPack("test-no-zz", "ZZ", "2020-01-01")}}, "admin", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	c = server()
	fs.fail.Store(true)
	c.lawTick(ctx)
	fs.fail.Store(false)
	if got, err := c.Get(ctx, "t1", r.ID); err != nil || got.State == Migrating || got.State.Final() {
		t.Fatalf("run at a lawful placement after a check the store failed: %s %+v (%v)", got.State, got.Migration, err)
	}
	if rev, _, err := st.LawCheck(ctx); err != nil || rev != 0 {
		t.Fatalf("a check that could not read a run's documents was recorded for revision %d (%v)", rev, err)
	}
	c.lawTick(ctx)
	if rev, _, err := st.LawCheck(ctx); err != nil || rev != 1 {
		t.Fatalf("law check after the store recovered: revision %d (%v), want 1", rev, err)
	}
	if got, err := c.Get(ctx, "t1", r.ID); err != nil || got.State == Migrating || got.State.Final() {
		t.Fatalf("run at a lawful placement: %s (%v)", got.State, err)
	}
}

// TestLawCheckBacksOff: a law check that fails is retried on the next
// tick; one that fails again waits before the next try, and the wait
// doubles. A new revision is checked at once, wait or not, and so is the
// law in a new term of leadership. Once the store recovers, the check is
// done and recorded.
func TestLawCheckBacksOff(t *testing.T) {
	ctx := context.Background()
	var fs *flakyRuns
	f := newLawCheckFixture(t, func(st store.Store) store.Store { fs = &flakyRuns{Store: st}; return fs })
	c, st, rs := f.controller(nil), f.st, f.rs
	now := time.Now()
	c.lawClock = func() time.Time { return now }
	if _, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(10, 1)}}); err != nil {
		t.Fatal(err)
	}
	c.lawTick(ctx) // the first check
	apply := func(id string) {
		t.Helper()
		if _, _, err := rs.Apply(ctx, rules.Change{Files: []policy.File{denyPack(id, "SG", "2020-01-01")}}, "admin", "test", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	apply("test-no-sg")
	fs.fail.Store(true)
	n := fs.lists.Load()
	tries := func(want int64, when string) {
		t.Helper()
		if got := fs.lists.Load() - n; got != want {
			t.Fatalf("%s: %d tries, want %d", when, got, want)
		}
	}
	c.lawTick(ctx) // fails
	c.lawTick(ctx) // retried at once, fails again: now it waits 1 s
	tries(2, "two ticks after a failure")
	for range 5 {
		c.lawTick(ctx)
	}
	tries(2, "ticks within the wait")
	now = now.Add(lawBackoff + time.Millisecond)
	c.lawTick(ctx) // the third try, failing: the wait doubles
	tries(3, "after the wait")
	now = now.Add(lawBackoff)
	c.lawTick(ctx)
	tries(3, "a tick within the doubled wait")
	fs.fail.Store(false)
	if rev, _, err := st.LawCheck(ctx); err != nil || rev != 0 {
		t.Fatalf("recorded revision %d (%v) before the store recovered and the wait ended", rev, err)
	}
	now = now.Add(lawBackoff + time.Millisecond)
	c.lawTick(ctx)
	if rev, _, err := st.LawCheck(ctx); err != nil || rev != 1 {
		t.Fatalf("law check after the wait: revision %d (%v), want 1", rev, err)
	}
	if c.lawFails != 0 {
		t.Errorf("failures in a row after a recorded check: %d", c.lawFails)
	}

	// Waiting after two failures under revision 2, revision 3 comes: it is
	// checked at the next tick.
	apply("test-no-sg-2")
	fs.fail.Store(true)
	n = fs.lists.Load()
	c.lawTick(ctx)
	c.lawTick(ctx)
	c.lawTick(ctx)
	tries(2, "revision 2, three ticks")
	apply("test-no-sg-3")
	c.lawTick(ctx)
	tries(3, "revision 3 during the wait")
	// A new term of leadership starts without the last term's wait.
	c.lawTick(ctx)
	tries(3, "revision 3, waiting")
	c.newTerm()
	c.lawTick(ctx)
	tries(4, "a new term")
}

// TestLawCheckRecordNamesEarlierTries: a law check that moved one run
// and could not write the other's move is tried again; the run it moved
// is migrating by then, and the record of the check that succeeds names
// both runs it moved.
func TestLawCheckRecordNamesEarlierTries(t *testing.T) {
	ctx := context.Background()
	var fs *failingUpdates
	f := newLawCheckFixture(t, func(st store.Store) store.Store { fs = &failingUpdates{Store: st}; return fs })
	c, st, rs := f.controller(nil), f.st, f.rs
	var ids []string
	for range 2 {
		r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(10, 1)}})
		if err != nil || r.Site != "alpha" {
			t.Fatalf("submit: %+v %v", r, err)
		}
		ids = append(ids, r.ID)
	}
	c.lawTick(ctx) // the first check: lawful
	if _, _, err := rs.Apply(ctx, rules.Change{Files: []policy.File{denyPack("test-no-sg", "SG", "2020-01-01")}}, "admin", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	fs.only.Store(ids[1])
	fs.fail.Store(true)
	c.lawTick(ctx)
	if rev, _, err := st.LawCheck(ctx); err != nil || rev != 0 {
		t.Fatalf("a check that could not move a run was recorded for revision %d (%v)", rev, err)
	}
	if got, err := c.Get(ctx, "t1", ids[0]); err != nil || got.State != Migrating {
		t.Fatalf("first run after the failed try: %s (%v), want migrating", got.State, err)
	}
	fs.fail.Store(false)
	c.lawTick(ctx)
	if rev, _, err := st.LawCheck(ctx); err != nil || rev != 1 {
		t.Fatalf("law check after the store recovered: revision %d (%v), want 1", rev, err)
	}
	ents, err := st.AuditSelect(ctx, store.AuditQuery{Kinds: []string{KindLawCheck}, AllTenants: true})
	if err != nil || len(ents) == 0 {
		t.Fatalf("law-check records: %d (%v)", len(ents), err)
	}
	var rec struct {
		Runs   int      `json:"runs"`
		Moving []string `json:"moving"`
	}
	if err := json.Unmarshal(ents[len(ents)-1].Payload, &rec); err != nil {
		t.Fatal(err)
	}
	want := slices.Sorted(slices.Values(ids))
	if !slices.Equal(rec.Moving, want) || rec.Runs != 2 {
		t.Errorf("the recorded check: runs %d, moving %v; want 2 runs, moving %v", rec.Runs, rec.Moving, want)
	}
}

// failingExports is a transfer ledger that reports no earlier exports, or
// fails while fail is set; reads counts the reads asked of it.
type failingExports struct {
	fail  atomic.Bool
	reads atomic.Int64
}

func (f *failingExports) Exported(ctx context.Context, tenant string, orgs []string, origin string, since, until catalog.Date) ([]policy.Export, error) {
	f.reads.Add(1)
	if f.fail.Load() {
		return nil, errors.New("database is locked")
	}
	return nil, nil
}

// volumePack denies moving personal data out of origin once the
// organisation has exported that of more than limit people this year.
func volumePack(id, origin string, limit int) policy.File {
	return transferPack(id, fmt.Sprintf("No more than %d people's data out of %s a year", limit, origin),
		fmt.Sprintf("dataset.origin == '%s' && ledger.subjectsExported('%s', yearStart(asOf, 0)) > %d", origin, origin, limit), "")
}

// checkWhileLedgerFails has c make the first law check, then check a new
// revision while the ledger fails: that check must read the ledger and
// not be recorded.
func checkWhileLedgerFails(t *testing.T, f *lawCheckFixture, c *Controller, ledger *failingExports) {
	t.Helper()
	ctx := context.Background()
	c.lawTick(ctx) // the first check, with the ledger read
	if rev, _, err := f.st.LawCheck(ctx); err != nil || rev != 1 {
		t.Fatalf("first law check: revision %d (%v)", rev, err)
	}
	if _, _, err := f.rs.Apply(ctx, rules.Change{Files: []policy.File{denyPack("test-no-zz", "ZZ", "2020-01-01")}}, "admin", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	ledger.fail.Store(true)
	before := ledger.reads.Load()
	c.lawTick(ctx)
	if ledger.reads.Load() == before {
		t.Fatal("the law check did not read the ledger: the test tries nothing")
	}
	if rev, _, err := f.st.LawCheck(ctx); err != nil || rev != 1 {
		t.Errorf("a check that could not read the ledger was recorded for revision %d (%v)", rev, err)
	}
}

// submitUnderVolumeRule puts a volume rule on MY's personal data in force
// and submits tenant t1's run of a job on dataset people, from MY (its
// chunks in a home store when stored); the run is planned at alpha (SG).
func submitUnderVolumeRule(t testing.TB, f *lawCheckFixture, c *Controller, stored bool) *Run {
	t.Helper()
	ctx := context.Background()
	if _, _, err := f.rs.Apply(ctx, rules.Change{Files: []policy.File{volumePack("test-volume-my", "MY", 5000)}}, "admin", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	keys, err := dataset.TenantKeyrings{Root: f.dir}.For("t1")
	if err != nil {
		t.Fatal(err)
	}
	ds := addDataset(t, f.dir, keys, testData{name: "people", origin: "MY", class: catalog.ClassPersonal, stored: stored})
	r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{dataJobDoc(10, 1, []string{"people"}, false, ds)}})
	if err != nil {
		t.Fatal(err)
	}
	if r.State != Planned || r.Site != "alpha" {
		t.Fatalf("submitted: %s at %s (%s)", r.State, r.Site, r.Reason)
	}
	return r
}

// TestLawCheckLedgerErrorMovesNothing: a rule that counts earlier exports
// and cannot read the ledger has not judged the run. The law check must
// not move it (as it would a run the rule denies), nor record itself as
// done; the run's next attempt must not fail for it either. Once the
// ledger reads again the check is recorded and the run stays.
func TestLawCheckLedgerErrorMovesNothing(t *testing.T) {
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	ledger := &failingExports{}
	c := f.controller(func(cfg *Config) { cfg.Exports = ledger })
	r := submitUnderVolumeRule(t, f, c, false)
	checkWhileLedgerFails(t, f, c, ledger)
	got, err := c.Get(ctx, "t1", r.ID)
	if err != nil || got.State != Planned {
		t.Fatalf("after the check that could not read the ledger: %s (%v): %s", got.State, err, got.Reason)
	}
	// The law asked again before an attempt starts: not judged either.
	if _, _, err := c.lawfulNow(got); err == nil {
		t.Error("the law before an attempt: no error while the ledger fails")
	}
	ledger.fail.Store(false)
	c.lawTick(ctx)
	if rev, _, err := f.st.LawCheck(ctx); err != nil || rev != 2 {
		t.Errorf("law check after the ledger recovered: revision %d (%v), want 2", rev, err)
	}
	if got, err := c.Get(ctx, "t1", r.ID); err != nil || got.State != Planned {
		t.Errorf("after the ledger recovered: %s (%v): %s", got.State, err, got.Reason)
	}
}

// TestLawCheckLedgerErrorWithdrawsNothing: the same for a staged copy: a
// rule that cannot read the ledger has not judged it, and the copy stays
// at its site.
func TestLawCheckLedgerErrorWithdrawsNothing(t *testing.T) {
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	ledger := &failingExports{}
	c := f.stagingController(func(cfg *Config) { cfg.Exports = ledger })
	if _, _, err := f.rs.Apply(ctx, rules.Change{Files: []policy.File{volumePack("test-volume-my", "MY", 5000)}}, "admin", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	stageCorpus(t, c, f.dir)
	checkWhileLedgerFails(t, f, c, ledger)
	if w := firstWithdrawal(t, f.st); w != nil {
		t.Fatalf("a check that could not read the ledger withdrew the copy: %+v", w)
	}
	ledger.fail.Store(false)
	c.lawTick(ctx)
	if rev, _, err := f.st.LawCheck(ctx); err != nil || rev != 2 {
		t.Errorf("law check after the ledger recovered: revision %d (%v), want 2", rev, err)
	}
	if w := firstWithdrawal(t, f.st); w != nil {
		t.Errorf("the copy was withdrawn: %+v", w)
	}
}

// TestLedgerErrorAtStagingAndStart: a run whose staging or whose start
// meets a volume rule that cannot read the ledger is neither refused nor
// failed: the step is tried again, and once the ledger reads the run
// stages. (Before, staging turned the error into the rule's denial and
// failed the run, and the law before the attempt failed it too.)
func TestLedgerErrorAtStagingAndStart(t *testing.T) {
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	ledger := &failingExports{}
	c := f.stagingController(func(cfg *Config) { cfg.Exports = ledger })
	r := submitUnderVolumeRule(t, f, c, true)
	steps := func(n int) *Run {
		t.Helper()
		for range n {
			c.Step(ctx, r.ID)
		}
		got, err := c.Get(ctx, "t1", r.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	ledger.fail.Store(true)
	before := ledger.reads.Load()
	got := steps(4)
	if ledger.reads.Load() == before {
		t.Fatal("staging did not read the ledger: the test tries nothing")
	}
	if got.State != Staging || got.Staged == got.Attempt {
		t.Fatalf("staging while the ledger fails: %s, staged %d of attempt %d: %s", got.State, got.Staged, got.Attempt, got.Reason)
	}
	ledger.fail.Store(false)
	if got = steps(1); got.State != Staging || got.Staged != got.Attempt {
		t.Fatalf("staging once the ledger reads: %s, staged %d of attempt %d: %s", got.State, got.Staged, got.Attempt, got.Reason)
	}
	// Staged; the law asked again before the attempt starts meets the
	// failing ledger: the run waits to start.
	ledger.fail.Store(true)
	before = ledger.reads.Load()
	if got = steps(2); got.State != Staging || ledger.reads.Load() == before {
		t.Fatalf("the start while the ledger fails: %s (%s), ledger read %v", got.State, got.Reason, ledger.reads.Load() != before)
	}
	// A checkpoint about to move to bravo: the law of its move cannot be
	// judged, so it is kept for the next try, not given up.
	got.Checkpoint = &Checkpoint{Name: "ck-" + got.ID, Site: "alpha", Step: 3}
	moved, _, why, err := c.moveCheckpoint(ctx, got, planner.Placement{Site: "bravo", Pool: 0})
	if rerr := (*storeReadError)(nil); !errors.As(err, &rerr) || moved != nil {
		t.Fatalf("moving a checkpoint while the ledger fails: %v, %q, %v; want a store read error", moved, why, err)
	}
	// Moving ahead of a rule's date, each candidate must stay lawful then:
	// not judged, none is dropped as unlawful and the run is not held.
	mig, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		r.Migration = &Migration{From: r.Site, Reason: "test: ahead of a rule", Until: "2030-01-01"}
		return transition(ch, r, Migrating, "test")
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.replan(ctx, mig); !errors.As(err, new(*storeReadError)) {
		t.Errorf("re-plan while the ledger fails: %v, want a store read error", err)
	}
	if got, err := c.Get(ctx, "t1", r.ID); err != nil || got.State != Migrating || got.Migration.Target != nil {
		t.Errorf("after the re-plan that could not judge: %s (%v): %s", got.State, err, got.Reason)
	}
}

// TestLawCheckNotUnderOlderRules: a controller that leads before it has
// loaded the rules revision another server applied and checked under (it
// took over within its refresh's second, or cannot load that revision)
// does not check again under its older rules, which recorded the older
// revision as the law checked and left the law in force unenforced by it.
// Once it has the revision, it checks nothing again for it.
func TestLawCheckNotUnderOlderRules(t *testing.T) {
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	c := f.controller(nil)
	c.lawTick(ctx) // the first check, under the rules this server has
	// Another server applies a revision and checks under it.
	other, err := rules.Open(ctx, f.st, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := other.Apply(ctx, rules.Change{Files: []policy.File{denyPack("test-no-sg", "SG", "2020-01-01")}}, "admin", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	newer := other.Current().Rev
	otherCtl := f.controller(func(cfg *Config) {
		cfg.LawNow = func() LawNow {
			cur := other.Current()
			return LawNow{Rev: cur.Rev, Law: planner.PolicyLaw(cur.Engine), Dates: cur.Dates}
		}
	})
	otherCtl.lawTick(ctx)
	if rev, _, err := f.st.LawCheck(ctx); err != nil || rev != newer {
		t.Fatalf("the other server's check: revision %d (%v), want %d", rev, err, newer)
	}
	if f.rs.Current().Rev >= newer {
		t.Fatal("this server already has the new revision")
	}
	c.lawTick(ctx)
	if rev, _, err := f.st.LawCheck(ctx); err != nil || rev != newer {
		t.Errorf("after a tick under older rules the last check is of revision %d (%v), want %d still", rev, err, newer)
	}
	if err := f.rs.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	before, _ := f.st.AuditSelect(ctx, store.AuditQuery{Kinds: []string{KindLawCheck}, AllTenants: true})
	c.lawTick(ctx)
	after, _ := f.st.AuditSelect(ctx, store.AuditQuery{Kinds: []string{KindLawCheck}, AllTenants: true})
	if len(after) != len(before) {
		t.Errorf("with the revision loaded, the tick checked again (%d checks, was %d)", len(after), len(before))
	}
}

// TestLawCheckWhenTheLawChangesUnderOneRevision: the law a server reads
// can change with no new rules revision (a new binary's built-in packs, a
// rules directory or the catalog edited between starts, a screening
// import or decision): its digest differs from the one the last check
// recorded, and the server checks again; a server that takes over with the
// law the last check judged by checks nothing again.
func TestLawCheckWhenTheLawChangesUnderOneRevision(t *testing.T) {
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	digest := "rules A, screening none"
	withDigest := func(cfg *Config) {
		cfg.LawNow = func() LawNow {
			ln := f.lawNow()
			ln.Digest = digest
			return ln
		}
	}
	checks := func() []string {
		t.Helper()
		es, err := f.st.AuditSelect(ctx, store.AuditQuery{Kinds: []string{KindLawCheck}, AllTenants: true})
		if err != nil {
			t.Fatal(err)
		}
		var why []string
		for _, e := range es {
			var p struct{ Why string }
			json.Unmarshal(e.Payload, &p)
			why = append(why, p.Why)
		}
		return why
	}
	c := f.controller(withDigest)
	c.lawTick(ctx)
	c.lawTick(ctx)
	if n := len(checks()); n != 1 {
		t.Fatalf("%d checks of an unchanged law, want 1: %q", n, checks())
	}
	digest = "rules A, screening imported"
	c.lawTick(ctx)
	if w := checks(); len(w) != 2 || !strings.Contains(w[1], "not the one last checked") {
		t.Fatalf("after the law changed under one revision: %q", w)
	}
	// Another server takes over, reading the law the last check judged by.
	f.controller(withDigest).lawTick(ctx)
	if n := len(checks()); n != 2 {
		t.Errorf("a server that took over with the law last checked checked again: %q", checks())
	}
	digest = "rules B (a rules directory edited), screening imported"
	f.controller(withDigest).lawTick(ctx)
	if n := len(checks()); n != 3 {
		t.Errorf("a server that took over with another law did not check: %q", checks())
	}
}

// TestLawCheckNamesUnreadableRuns: a live run whose stored document does
// not read cannot be judged; the law check names it as undetermined, where
// it left it out of a check recorded as having judged every run.
func TestLawCheckNamesUnreadableRuns(t *testing.T) {
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	c := f.controller(nil)
	if _, _, err := f.st.CreateRun(ctx, &store.Run{ID: "run-unreadable", Tenant: "t1", Job: "j", State: string(Running), Data: []byte(`{"documents": 7}`)}, "", store.Change{}); err != nil {
		t.Fatal(err)
	}
	c.lawTick(ctx)
	es, err := f.st.AuditSelect(ctx, store.AuditQuery{Kinds: []string{KindLawCheck}, AllTenants: true})
	if err != nil || len(es) != 1 {
		t.Fatalf("law checks: %d, %v", len(es), err)
	}
	var p struct {
		Runs         int
		Undetermined []string
	}
	json.Unmarshal(es[0].Payload, &p)
	if p.Runs != 1 || len(p.Undetermined) != 1 || p.Undetermined[0] != "run-unreadable" {
		t.Errorf("the check recorded %+v, want the unreadable run named as undetermined", p)
	}
}

// TestNoLawCheckWhileBehind: a server that cannot load the law in force (a
// newer revision another server applied) neither checks under its older
// rules nor records such a check as the law's.
func TestNoLawCheckWhileBehind(t *testing.T) {
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	c := f.controller(func(cfg *Config) {
		cfg.LawNow = func() LawNow {
			ln := f.lawNow()
			ln.Behind = errors.New("this server cannot load rules revision 7")
			return ln
		}
	})
	c.lawTick(ctx)
	if rev, day, err := f.st.LawCheck(ctx); err != nil || day != "" {
		t.Fatalf("a server behind the law in force recorded a check (revision %d, day %q, err %v)", rev, day, err)
	}
	if c.lawFails == 0 {
		t.Error("the tick did not count as a failed check")
	}
}

// TestBehindStartsMovesAndFailsNothing: a server that cannot load the law
// in force (another server applied a revision whose rule id this server's
// rules directory also defines) judges nothing under its older rules. A
// run about to start is not submitted under them; a run about to stage is
// not refused on the stager's fail-closed denial; a run moving off a lost
// site is not failed because no plan can be made. Each waits, and goes on
// once the law in force loads.
func TestBehindStartsMovesAndFailsNothing(t *testing.T) {
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	dir := t.TempDir()
	clash := licencedTransferPack("test-clash", "FR")
	if err := os.WriteFile(filepath.Join(dir, clash.Name), clash.Data, 0o644); err != nil {
		t.Fatal(err)
	}
	here, err := rules.Open(ctx, f.st, []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	c := f.stagingController(func(cfg *Config) {
		law := here.Law()
		cfg.Plan = func(ctx context.Context, w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
			return planner.Make(w, job, planner.Options{AsOf: asOf, ExcludeSites: exclude, Rules: law})
		}
		cfg.Stager.Law = here
		cfg.LawNow = func() LawNow {
			cur := here.Current()
			return LawNow{Rev: cur.Rev, Law: planner.PolicyLaw(cur.Engine), Transfer: cur.Engine, Dates: cur.Dates, Behind: here.Behind()}
		}
	})
	keys, err := dataset.TenantKeyrings{Root: f.dir}.For("t1")
	if err != nil {
		t.Fatal(err)
	}
	ds := addDataset(t, f.dir, keys, testData{name: "corpus", origin: "MY", class: catalog.ClassPublic, stored: true})
	withData, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{dataJobDoc(10, 1, []string{"corpus"}, false, ds)}})
	if err != nil {
		t.Fatal(err)
	}
	bare, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(10, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	moving, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(10, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	stepTo := func(id string, want State) {
		t.Helper()
		for i := 0; i < 5; i++ {
			got, err := c.Get(ctx, "t1", id)
			if err != nil {
				t.Fatal(err)
			}
			if got.State == want && (want != Staging || got.Staged == got.Attempt || id == withData.ID) {
				return
			}
			if _, err := c.Step(ctx, id); err != nil {
				t.Fatalf("step %s: %v", id, err)
			}
		}
		got, _ := c.Get(ctx, "t1", id)
		t.Fatalf("run %s: %s (%s), want %s", id, got.State, got.Reason, want)
	}
	stepTo(withData.ID, Staging)
	stepTo(bare.ID, Staging)
	if _, err := c.update(ctx, moving.ID, func(r *Run, ch *store.Change) error {
		r.Migration = &Migration{From: r.Site, Reason: "test: site lost"}
		return transition(ch, r, Migrating, "test: moving")
	}); err != nil {
		t.Fatal(err)
	}
	// Another server applies the revision that does not load here.
	if _, _, err := f.rs.Apply(ctx, rules.Change{Files: []policy.File{licencedTransferPack("test-clash", "SG")}}, "admin", "other server", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := here.Refresh(ctx); err == nil || here.Behind() == nil {
		t.Fatalf("the clashing revision loaded here (%v): the test tries nothing", err)
	}
	for _, id := range []string{withData.ID, bare.ID, moving.ID} {
		for i := 0; i < 3; i++ {
			if _, err := c.Step(ctx, id); !notJudged(err) {
				t.Errorf("run %s: step while behind the law: %v, want not judged", id, err)
			}
		}
		got, err := c.Get(ctx, "t1", id)
		if err != nil {
			t.Fatal(err)
		}
		if got.State.Final() || got.Handle != "" || (got.State != Staging && got.State != Migrating) {
			t.Errorf("run %s while behind the law in force: %s, handle %q (%s)", id, got.State, got.Handle, got.Reason)
		}
	}
	// The other server takes the clash back: the law loads here, and the
	// runs go on.
	if _, _, err := f.rs.Apply(ctx, rules.Change{Remove: []string{clash.Name}}, "admin", "other server", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := here.Refresh(ctx); err != nil || here.Behind() != nil {
		t.Fatalf("refresh once the clash is gone: %v (behind: %v)", err, here.Behind())
	}
	stepTo(bare.ID, Queued)
}

// TestRevisionWhileMovingJudgesTheTarget: a run moving off a lost site has
// chosen its target under one rules revision; a revision that forbids the
// target before the run gets there gives the target up, and the run is
// planned again under the law in force. It used to go on to the target,
// where its staging was refused and the run failed.
func TestRevisionWhileMovingJudgesTheTarget(t *testing.T) {
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	c := f.stagingController(nil)
	keys, err := dataset.TenantKeyrings{Root: f.dir}.For("t1")
	if err != nil {
		t.Fatal(err)
	}
	ds := addDataset(t, f.dir, keys, testData{name: "corpus", origin: "SG", class: catalog.ClassPublic, stored: true})
	r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{dataJobDoc(10, 1, []string{"corpus"}, false, ds)}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Site != "alpha" {
		t.Fatalf("planned at %s, want alpha", r.Site)
	}
	w, job, err := c.worldJob(r)
	if err != nil {
		t.Fatal(err)
	}
	plan, _, err := c.planFor(ctx, "t1", w, job, c.today(), []string{"alpha"})
	if err != nil || len(plan.Placements) == 0 || plan.Placements[0].Site != "bravo" {
		t.Fatalf("plan without alpha: %+v (%v), want bravo first", plan, err)
	}
	target := plan.Placements[0]
	if _, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		r.Migration = &Migration{From: "alpha", Reason: "test: site lost", LostAt: time.Now(), Target: &target, AsOf: c.today().String()}
		return transition(ch, r, Migrating, "test: moving to bravo")
	}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.rs.Apply(ctx, rules.Change{Files: []policy.File{transferPack("test-no-my", "No data to MY", "transfer.to == 'MY'", "")}}, "admin", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	rev := f.rs.Current().Rev
	c.lawTick(ctx)
	if got, _, err := f.st.LawCheck(ctx); err != nil || got != rev {
		t.Fatalf("law check recorded for revision %d (%v), want %d", got, err, rev)
	}
	for i := 0; i < 4; i++ {
		if _, err := c.Step(ctx, r.ID); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	got, err := c.Get(ctx, "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State.Final() || got.Site == "bravo" || (got.Migration != nil && got.Migration.Target != nil && got.Migration.Target.Site == "bravo") {
		t.Fatalf("after a revision that forbids the target: %s at %s (%s), migration %+v", got.State, got.Site, got.Reason, got.Migration)
	}
	evs, err := c.Events(ctx, "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range evs {
		found = found || e.Kind == "replanned" && strings.Contains(e.Reason, fmt.Sprintf("bravo is not lawful under rules revision %d", rev)) && strings.Contains(e.Data, "test-no-my")
	}
	if !found {
		t.Errorf("no event says the target was given up for rule test-no-my: %+v", evs)
	}
}

// TestReplanMeetingBehindWaits: a re-plan whose planner meets a rules
// revision this server cannot load (applied by another server after the
// step checked) has judged nothing: the moving run waits, and is not
// failed on the planner's refusal.
func TestReplanMeetingBehindWaits(t *testing.T) {
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	var behind atomic.Bool
	c := f.stagingController(func(cfg *Config) {
		law := f.rs.Law()
		cfg.Plan = func(ctx context.Context, w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
			if behind.Load() {
				return nil, fmt.Errorf("planner: open law session: %w", &rules.BehindError{Rev: 2, Applies: 1, Err: errors.New("rule test-clash defined twice")})
			}
			return planner.Make(w, job, planner.Options{AsOf: asOf, ExcludeSites: exclude, Rules: law})
		}
	})
	r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(10, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		r.Migration = &Migration{From: r.Site, Reason: "test: site lost", LostAt: time.Now()}
		return transition(ch, r, Migrating, "test: moving")
	}); err != nil {
		t.Fatal(err)
	}
	behind.Store(true)
	if _, err := c.Step(ctx, r.ID); !notJudged(err) {
		t.Errorf("a re-plan that met an unloadable revision: %v, want not judged", err)
	}
	if got, err := c.Get(ctx, "t1", r.ID); err != nil || got.State != Migrating {
		t.Fatalf("after the re-plan: %s (%v): %s, want still moving", got.State, err, got.Reason)
	}
}

// TestReplanStoppedWaits: a re-plan stopped by its context (the step's
// deadline passed, the server is stopping) has judged nothing: the
// planner returns the context's error and no plan. The moving run was
// failed on that error, as on a plan that found no lawful place; it waits
// and is re-planned.
func TestReplanStoppedWaits(t *testing.T) {
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	var stop atomic.Bool
	c := f.stagingController(func(cfg *Config) {
		law := f.rs.Law()
		cfg.Plan = func(ctx context.Context, w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
			if stop.Load() {
				// The plan's own context ends; the step's goes on.
				pctx, cancel := context.WithCancel(ctx)
				cancel()
				ctx = pctx
			}
			return planner.Make(w, job, planner.Options{Context: ctx, AsOf: asOf, ExcludeSites: exclude, Rules: law})
		}
	})
	r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(10, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		r.Migration = &Migration{From: r.Site, Reason: "test: site lost", LostAt: time.Now()}
		return transition(ch, r, Migrating, "test: moving")
	}); err != nil {
		t.Fatal(err)
	}
	stop.Store(true)
	if _, err := c.Step(ctx, r.ID); !errors.Is(err, context.Canceled) {
		t.Errorf("a re-plan stopped by its context: %v, want its error", err)
	}
	if got, err := c.Get(ctx, "t1", r.ID); err != nil || got.State != Migrating {
		t.Fatalf("after the re-plan: %s (%v): %s, want still moving", got.State, err, got.Reason)
	}
}

// TestLawCheckDatedAheadChecksAgain: the last check's row is outside the
// audit chain; a day written ahead into it (by whoever can write the
// database) left no day of the law in (last, today], and no change of the
// law was ever checked again. A last check dated after today is read as
// unreadable: the next tick checks, and says why.
func TestLawCheckDatedAheadChecksAgain(t *testing.T) {
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	c := f.controller(nil)
	c.lawTick(ctx)
	rev, day, err := f.st.LawCheck(ctx)
	if err != nil || day == "" {
		t.Fatalf("the first check: %q, %v", day, err)
	}
	forged, err := audit.NewRecord(KindLawCheck, "", map[string]string{"why": "written outside Meridian"})
	if err != nil {
		t.Fatal(err)
	}
	ahead := time.Now().UTC().AddDate(1, 0, 0).Format(time.DateOnly)
	if err := f.st.SetLawCheck(ctx, rev, ahead, forged); err != nil {
		t.Fatal(err)
	}
	c.lawTick(ctx)
	_, day, err = f.st.LawCheck(ctx)
	if err != nil || day == ahead {
		t.Fatalf("after a tick the last check is still dated %q (%v): the law was not checked again", day, err)
	}
	es, err := f.st.AuditSelect(ctx, store.AuditQuery{Kinds: []string{KindLawCheck}, AllTenants: true})
	if err != nil {
		t.Fatal(err)
	}
	var p struct{ Why string }
	json.Unmarshal(es[len(es)-1].Payload, &p)
	if !strings.Contains(p.Why, "after today") {
		t.Errorf("the check says why %q, want it to name the day after today", p.Why)
	}
}
