package run

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/store"
)

// flakyRuns is a store whose run listing fails while fail is set.
type flakyRuns struct {
	store.Store
	fail atomic.Bool
}

func (s *flakyRuns) ListRuns(ctx context.Context, o store.ListOptions) ([]*store.Run, error) {
	if s.fail.Load() {
		return nil, errors.New("database is locked")
	}
	return s.Store.ListRuns(ctx, o)
}

// lawCheckEnv opens a SQLite store in a test directory and the rules on
// it, and builds a controller (not running its loop) over the store wrap
// makes of it, planning with the rules in force; lawNow, when set, stands
// in for the law in force the controller sees.
func lawCheckEnv(t *testing.T, wrap func(store.Store) store.Store, lawNow func(rs *rules.State) func() LawNow) (*Controller, *store.SQLite, *rules.State) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "m.db"), store.Options{AuditKey: []byte("test key 0123456")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rs, err := rules.Open(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	law := rs.Law()
	ln := func() LawNow {
		cur := rs.Current()
		return LawNow{Rev: cur.Rev, Law: planner.PolicyLaw(cur.Engine), Dates: cur.Dates}
	}
	if lawNow != nil {
		ln = lawNow(rs)
	}
	c := New(Config{Store: wrap(st), StateDir: dir, CatalogDir: "testdata/sites",
		Plan: func(w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
			return planner.Make(w, job, planner.Options{AsOf: asOf, ExcludeSites: exclude, Rules: law})
		},
		LawNow: ln})
	return c, st, rs
}

// TestLawCheckNotRecordedWhenRunsUnread: a law check that could not read
// the live runs checked none of them; it must not be recorded as done, or
// the runs a new revision makes unlawful would run on until the law next
// changes. The next tick checks them.
func TestLawCheckNotRecordedWhenRunsUnread(t *testing.T) {
	ctx := context.Background()
	var fs *flakyRuns
	c, st, rs := lawCheckEnv(t, func(st store.Store) store.Store { fs = &flakyRuns{Store: st}; return fs }, nil)
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

// failingUpdates is a store whose run updates fail while fail is set.
type failingUpdates struct {
	store.Store
	fail atomic.Bool
}

func (s *failingUpdates) UpdateRun(ctx context.Context, id string, fn func(*store.Run) (store.Change, error)) (*store.Run, error) {
	if s.fail.Load() {
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
	c, st, _ := lawCheckEnv(t, func(st store.Store) store.Store { fs = &failingUpdates{Store: st}; return fs },
		func(rs *rules.State) func() LawNow {
			return func() LawNow {
				cur := rs.Current()
				if broken.Load() {
					return LawNow{Rev: cur.Rev + 1, Law: brokenLaw{}, Dates: cur.Dates}
				}
				return LawNow{Rev: cur.Rev, Law: planner.PolicyLaw(cur.Engine), Dates: cur.Dates}
			}
		})
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
// copy's facts changed (here, a country's adequacy decision lapsed) and
// then fails is not recorded, and the next tick runs it again, the same
// day, as a check for a new revision or a rule's day would be.
func TestLawCheckForCopyFactRetried(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "m.db"), store.Options{AuditKey: []byte("test key 0123456")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fs := &flakyRuns{Store: st}
	rs, err := rules.Open(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The built-in country table has an adequacy decision that lapses on
	// 2025-12-27; the law itself has no days.
	clk := &clock{t: time.Date(2025, 12, 20, 12, 0, 0, 0, time.UTC)}
	c := New(Config{Store: fs, StateDir: dir, CatalogDir: "testdata/sites", Now: clk.Now,
		LawNow: func() LawNow {
			cur := rs.Current()
			return LawNow{Rev: cur.Rev, Law: planner.PolicyLaw(cur.Engine)}
		}})
	c.lawTick(ctx) // the first check
	if _, day, err := st.LawCheck(ctx); err != nil || day != "2025-12-20" {
		t.Fatalf("first check recorded for %q (%v)", day, err)
	}
	clk.set(time.Date(2025, 12, 28, 12, 0, 0, 0, time.UTC))
	fs.fail.Store(true)
	c.lawTick(ctx)
	if _, day, err := st.LawCheck(ctx); err != nil || day != "2025-12-20" {
		t.Fatalf("a check that read no run was recorded for %q (%v)", day, err)
	}
	fs.fail.Store(false)
	c.lawTick(ctx)
	if _, day, err := st.LawCheck(ctx); err != nil || day != "2025-12-28" {
		t.Fatalf("law check after the store recovered: last on %q (%v), want 2025-12-28", day, err)
	}
}

// flakyResources is a store whose registered resources cannot be read
// while fail is set.
type flakyResources struct {
	store.Store
	fail atomic.Bool
}

func (s *flakyResources) ListResources(ctx context.Context, tenant, kind string) ([]*store.Resource, error) {
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
	dir := t.TempDir()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "m.db"), store.Options{AuditKey: []byte("test key 0123456")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fs := &flakyResources{Store: st}
	rs, err := rules.Open(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	law := rs.Law()
	server := func() *Controller {
		return New(Config{Store: fs, StateDir: dir, CatalogDir: "testdata/sites",
			Plan: func(w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
				return planner.Make(w, job, planner.Options{AsOf: asOf, ExcludeSites: exclude, Rules: law})
			},
			LawNow: func() LawNow {
				cur := rs.Current()
				return LawNow{Rev: cur.Rev, Law: planner.PolicyLaw(cur.Engine), Dates: cur.Dates}
			}})
	}
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
