package run

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// licencedTransferPack denies moving any dataset to country unless the
// organisation holds a licence naming the rule.
func licencedTransferPack(id, country string) policy.File {
	return transferPack(id, "No data to "+country+" without a licence", "transfer.to == '"+country+"'", "    liftedBy: {licence: true}\n")
}

// transferPack is a pack of one transfer-scope deny rule, in force since
// 2020, with condition and more of the rule's YAML lines.
func transferPack(id, title, condition, more string) policy.File {
	return transferRule(id, title, "deny", "2020-01-01", condition, more)
}

// transferRule is a pack of one transfer-scope rule, of effect effect,
// in force from the date from, with condition and more of the rule's YAML
// lines.
func transferRule(id, title, effect, from, condition, more string) policy.File {
	return policy.File{Name: id + ".yaml", Data: []byte(`apiVersion: meridian.dev/v1alpha1
kind: RulePack
metadata: {name: ` + id + `}
rules:
  - id: ` + id + `
    title: "` + title + `"
    jurisdiction: ORG
    kind: data-transfer
    scope: transfer
    effect: ` + effect + `
    effectiveFrom: ` + from + `
    enforcement: in-force
    confidence: confirmed
    sources: ["test pack of run's tests"]
    message: dataset {dataset.name} would move to {transfer.to}
    condition: "` + condition + `"
` + more)}
}

// stageCorpus registers organisation lab (headquartered in MY, holding
// licences, YAML list items, when given) and a public dataset "corpus" from
// MY whose home store is in dir, with tenant t1 on c, and stages it to
// alpha (SG) for lab.
func stageCorpus(t *testing.T, c *Controller, dir string, licences ...string) {
	t.Helper()
	ctx := context.Background()
	keys, err := dataset.TenantKeyrings{Root: dir}.For("t1")
	if err != nil {
		t.Fatal(err)
	}
	ds := addDataset(t, dir, keys, testData{name: "corpus", origin: "MY", class: catalog.ClassPublic, stored: true})
	org := "apiVersion: meridian.dev/v1alpha1\nkind: Organization\nmetadata: {name: lab}\nspec:\n  headquarters: MY\n"
	if len(licences) > 0 {
		org += "  licenses:\n"
		for _, l := range licences {
			org += "    - " + l + "\n"
		}
	}
	if _, err := c.Apply(ctx, "t1", []Document{{Name: "res.yaml", Content: org + ds}}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StageDataset(ctx, "t1", "corpus", StageRequest{Site: "alpha", Organization: "lab"}); err != nil {
		t.Fatalf("staging corpus to alpha: %v", err)
	}
}

// firstWithdrawal is the first copy withdrawal the audit log of st
// records, or nil.
func firstWithdrawal(t *testing.T, st store.Store) *transfer.Withdrawn {
	t.Helper()
	es, err := st.AuditEntries(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range es {
		if a.Kind == transfer.KindWithdrawn {
			var w transfer.Withdrawn
			if err := json.Unmarshal(a.Payload, &w); err != nil {
				t.Fatal(err)
			}
			return &w
		}
	}
	return nil
}

// TestStagedCopyWithdrawnWhenLicenceEnds: a copy staged under a licence
// that lifts a transfer rule is deleted at its site once the licence has
// expired, though no rule changed that day: the law check runs on the
// days the staged copies' own facts change, and the ledger records the
// withdrawal with the rule.
func TestStagedCopyWithdrawnWhenLicenceEnds(t *testing.T) {
	clk := &clock{t: time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)}
	e, rs := lawEnv(t, func(c *Config) { c.Now, c.Stager.Now = clk.Now, clk.Now })
	ctx := context.Background()
	if _, _, err := rs.Apply(ctx, rules.Change{Files: []policy.File{licencedTransferPack("test-licenced-sg", "SG")}}, "admin", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	stageCorpus(t, e.c, e.dir, "{rule: test-licenced-sg, expires: 2026-06-15}")
	site, err := e.c.Site("alpha")
	if err != nil {
		t.Fatal(err)
	}
	chunksAtSite := func() int {
		b, err := dataset.OpenStore(ctx, e.c.SiteStore(site))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		have, err := dataset.ListChunks(ctx, b.Sub(DataPrefix("t1")), "corpus")
		if err != nil {
			t.Fatal(err)
		}
		return len(have)
	}
	if chunksAtSite() == 0 {
		t.Fatal("the staging left no chunk at the site")
	}
	withdrawn := func() *transfer.Withdrawn { return firstWithdrawal(t, e.st) }
	// Checks run while the licence is in force everywhere on Earth (at
	// 09:00 UTC the 16th has begun nowhere): the copy stays.
	clk.set(time.Date(2026, 6, 15, 9, 0, 0, 0, time.UTC))
	e.c.Nudge()
	time.Sleep(300 * time.Millisecond)
	if w := withdrawn(); w != nil {
		t.Fatalf("withdrawn while the licence was in force: %+v", w)
	}
	// The day after it expires, no rule changes, but the copy goes: once
	// no staging holds the site's store (the check does not wait for one).
	_, unlock, err := e.c.lockStaging(ctx, e.c.SiteStore(site)+"|t1")
	if err != nil {
		t.Fatal(err)
	}
	clk.set(time.Date(2026, 6, 16, 0, 30, 0, 0, time.UTC))
	e.c.Nudge()
	time.Sleep(time.Second)
	if w := withdrawn(); w != nil {
		unlock()
		t.Fatalf("withdrawn while a staging held the store: %+v", w)
	}
	unlock()
	deadline := time.Now().Add(20 * time.Second)
	var w *transfer.Withdrawn
	for w == nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		w = withdrawn()
	}
	if w == nil {
		t.Fatal("the copy was not withdrawn the day after its licence expired")
	}
	if w.Dataset != "corpus" || w.Site != "alpha" || len(w.Rules) == 0 || w.Rules[0] != "test-licenced-sg" || w.AsOf != "2026-06-16" {
		t.Errorf("withdrawal %+v, want corpus at alpha under test-licenced-sg as of 2026-06-16", w)
	}
	if n := chunksAtSite(); n != 0 {
		t.Errorf("%d chunks left at the site", n)
	}
	es, err := e.st.AuditEntries(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	why := ""
	for _, a := range es {
		if a.Kind == KindLawCheck {
			var rec struct {
				Why string `json:"why"`
			}
			json.Unmarshal(a.Payload, &rec)
			why = rec.Why
		}
	}
	if !strings.Contains(why, "licence of organisation lab") {
		t.Errorf("last law check ran for %q, want the licence's end", why)
	}
}

// TestStagingLockAcrossServers: two servers sharing a store take turns
// staging into one site store for one tenant; other tenants and stores
// are not held up.
func TestStagingLockAcrossServers(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	other := New(Config{Store: e.st, StateDir: e.dir, CatalogDir: "testdata/sites", Replica: "other"})
	_, unlock, err := e.c.lockStaging(ctx, "file:///site/store|t1")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := other.tryLockStaging(ctx, "file:///site/store|t1"); !errors.Is(err, errStagingBusy) {
		t.Fatalf("the other server's try while held: %v, want errStagingBusy", err)
	}
	_, u2, err := other.tryLockStaging(ctx, "file:///site/store|t2")
	if err != nil {
		t.Fatalf("another tenant's staging was held up: %v", err)
	}
	u2()
	got := make(chan error, 1)
	go func() {
		_, u, err := other.lockStaging(ctx, "file:///site/store|t1")
		if err == nil {
			u()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("the other server staged while the first held the store (%v)", err)
	case <-time.After(300 * time.Millisecond):
	}
	unlock()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the other server never got the store after it was released")
	}
}

// TestUnjudgedCopyIsNamed: a copy the law in force cannot judge (its rule
// fails on the copy's facts) stays where it is, and the law check names it
// in copiesUndetermined rather than passing over it in silence.
func TestUnjudgedCopyIsNamed(t *testing.T) {
	e, rs := lawEnv(t, nil)
	ctx := context.Background()
	stageCorpus(t, e.c, e.dir)
	broken := licencedTransferPack("test-broken", "SG")
	broken.Data = []byte(strings.Replace(string(broken.Data), `condition: "transfer.to == 'SG'"`, `condition: "int(transfer.to) > 0"`, 1))
	if _, _, err := rs.Apply(ctx, rules.Change{Files: []policy.File{broken}}, "admin", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	e.c.Nudge()
	deadline := time.Now().Add(20 * time.Second)
	for {
		es, err := e.st.AuditEntries(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		var last struct {
			Revision           int64    `json:"revision"`
			CopiesUndetermined []string `json:"copiesUndetermined"`
			CopiesRemoved      []string `json:"copiesRemoved"`
		}
		for _, a := range es {
			if a.Kind == KindLawCheck {
				json.Unmarshal(a.Payload, &last)
			}
			if a.Kind == transfer.KindWithdrawn {
				t.Fatalf("a copy the law could not judge was withdrawn: %s", a.Payload)
			}
		}
		if last.Revision == 1 {
			if len(last.CopiesUndetermined) != 1 || last.CopiesUndetermined[0] != "t1/corpus@alpha" || len(last.CopiesRemoved) != 0 {
				t.Fatalf("law check: undetermined %v, removed %v; want t1/corpus@alpha undetermined", last.CopiesUndetermined, last.CopiesRemoved)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no law check under the new revision")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// deferredCopy stages tenant t1's dataset corpus at alpha under organisation
// lab's licence, lets the licence end, and has server "first" run the law
// check of that day while a staging on another server holds the store:
// the check is recorded and the copy's withdrawal deferred. It returns
// the store, a maker of servers sharing it, the first server, whether the
// copy has been withdrawn, and the other server's unlock.
func deferredCopy(t *testing.T) (*store.SQLite, func(string) *Controller, *Controller, func() bool, func()) {
	t.Helper()
	ctx := context.Background()
	st, dir := testStore(t)
	traversable(t, dir)
	rs, err := rules.Open(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)}
	server := func(replica string) *Controller {
		return New(Config{Store: st, StateDir: dir, CatalogDir: "testdata/sites", Replica: replica, Now: clk.Now,
			Stager: &transfer.Stager{Law: rs, Keys: dataset.TenantKeyrings{Root: dir}, Ledger: transfer.AuditLedger{Store: st}, Now: clk.Now},
			LawNow: func() LawNow {
				cur := rs.Current()
				return LawNow{Rev: cur.Rev, Law: planner.PolicyLaw(cur.Engine), Transfer: cur.Engine, Dates: cur.Dates}
			}})
	}
	first := server("first")
	if _, _, err := rs.Apply(ctx, rules.Change{Files: []policy.File{licencedTransferPack("test-licenced-sg", "SG")}}, "admin", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	stageCorpus(t, first, dir, "{rule: test-licenced-sg, expires: 2026-06-15}")
	first.lawTick(ctx) // the first check: the copy is lawful
	withdrawn := func() bool { return firstWithdrawal(t, st) != nil }
	site, err := first.Site("alpha")
	if err != nil {
		t.Fatal(err)
	}
	// The licence has ended; a staging on another server holds the store.
	_, unlock, err := server("stager").lockStaging(ctx, first.SiteStore(site)+"|t1")
	if err != nil {
		t.Fatal(err)
	}
	clk.set(time.Date(2026, 6, 16, 0, 30, 0, 0, time.UTC))
	first.lawTick(ctx)
	if _, day, err := st.LawCheck(ctx); err != nil || day != "2026-06-16" {
		unlock()
		t.Fatalf("the check for the licence's end: last on %q (%v)", day, err)
	}
	if withdrawn() {
		unlock()
		t.Fatal("withdrawn while a staging held the store")
	}
	return st, server, first, withdrawn, unlock
}

// TestDeferredWithdrawalSurvivesRestart: a copy a recorded law check found
// unlawful, whose withdrawal it deferred because a staging held the store,
// is withdrawn by the server that leads next (after a restart or a
// failover), though no law check is due then: the deferral was only in
// the memory of the server that made it.
func TestDeferredWithdrawalSurvivesRestart(t *testing.T) {
	_, server, _, withdrawn, unlock := deferredCopy(t)
	unlock()
	// The first server stops; the next one checks nothing new (the check
	// of the day is recorded) but finishes what it deferred.
	next := server("next")
	next.lawTick(context.Background())
	if !withdrawn() {
		t.Fatal("the copy the recorded check found unlawful was never withdrawn: its deferral was lost with the server that made it")
	}
}

// TestDeferredWithdrawalReadsLedgerAgain: the staging that held the store
// staged the copy anew, for an organisation whose licence is in force; the
// deferred withdrawal judges the copy as the ledger now records it, and
// leaves it.
func TestDeferredWithdrawalReadsLedgerAgain(t *testing.T) {
	ctx := context.Background()
	_, server, first, withdrawn, unlock := deferredCopy(t)
	unlock()
	stager := server("stager")
	org2 := "apiVersion: meridian.dev/v1alpha1\nkind: Organization\nmetadata: {name: lab2}\nspec:\n  headquarters: MY\n  licenses:\n    - {rule: test-licenced-sg, expires: 2027-06-15}\n"
	if _, err := stager.Apply(ctx, "t1", []Document{{Name: "org2.yaml", Content: org2}}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := stager.StageDataset(ctx, "t1", "corpus", StageRequest{Site: "alpha", Organization: "lab2"}); err != nil {
		t.Fatalf("staging under lab2's licence: %v", err)
	}
	first.mu.Lock()
	first.deferredTry = time.Time{} // the retry is due
	first.mu.Unlock()
	first.lawTick(ctx)
	if withdrawn() {
		t.Fatal("a copy staged anew under a licence in force was withdrawn for the old organisation's expired licence")
	}
	first.mu.Lock()
	left, tried := len(first.deferred), !first.deferredTry.IsZero()
	first.mu.Unlock()
	if !tried || left != 0 {
		t.Fatalf("the deferred withdrawal was not judged: tried %v, %d still deferred", tried, left)
	}
}

// TestCopyCheckStoreFailureNotRecorded: a law check that cannot read a
// copy's registered resources (the store failing for a moment) has not
// judged it: the copy is neither withdrawn nor listed as undetermined, and
// the check is not recorded, so the next tick withdraws the copy the new
// law denies.
func TestCopyCheckStoreFailureNotRecorded(t *testing.T) {
	var fr *flakyResources
	e, rs := lawEnv(t, func(c *Config) { fr = &flakyResources{Store: c.Store}; c.Store = fr })
	ctx := context.Background()
	stageCorpus(t, e.c, e.dir)
	checked := func() (int64, string) {
		rev, day, err := e.st.LawCheck(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return rev, day
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, day := checked(); day == ""; _, day = checked() {
		if time.Now().After(deadline) {
			t.Fatal("no first law check")
		}
		time.Sleep(20 * time.Millisecond)
	}
	withdrawn := func() bool { return firstWithdrawal(t, e.st) != nil }
	fr.fail.Store(true)
	if _, _, err := rs.Apply(ctx, rules.Change{Files: []policy.File{licencedTransferPack("test-no-sg-data", "SG")}}, "admin", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	e.c.Nudge()
	time.Sleep(time.Second)
	if rev, _ := checked(); rev != 0 || withdrawn() {
		t.Fatalf("with the copy unread: check recorded for revision %d, withdrawn %v; want neither", rev, withdrawn())
	}
	fr.fail.Store(false)
	e.c.Nudge()
	for rev, _ := checked(); rev != 1 || !withdrawn(); rev, _ = checked() {
		if time.Now().After(deadline.Add(10 * time.Second)) {
			t.Fatalf("after the store recovered: check at revision %d, withdrawn %v", rev, withdrawn())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// failingLedgerReads is a store whose audit selections fail while fail is
// set, counting those asked for meanwhile.
type failingLedgerReads struct {
	store.Store
	fail  atomic.Bool
	tries atomic.Int64 // reads while failing
	reads atomic.Int64 // all reads
}

func (s *failingLedgerReads) AuditSelect(ctx context.Context, q store.AuditQuery) ([]audit.Entry, error) {
	s.reads.Add(1)
	if s.fail.Load() {
		s.tries.Add(1)
		return nil, errors.New("database is locked")
	}
	return s.Store.AuditSelect(ctx, q)
}

// retryOnClock is deferredCopy's first server, its staging lock let go,
// reading the store through a ledger that can be made to fail, with the
// law tick's clock in the test's hands: retryAfter moves it on by d and
// retries the deferred withdrawals.
func retryOnClock(t *testing.T) (first *Controller, fl *failingLedgerReads, withdrawn func() bool, retryAfter func(d time.Duration)) {
	st, _, first, withdrawn, unlock := deferredCopy(t)
	unlock()
	fl = &failingLedgerReads{Store: st}
	first.cfg.Store = fl
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	first.lawClock = func() time.Time { return now }
	ln := first.lawNow()
	return first, fl, withdrawn, func(d time.Duration) {
		now = now.Add(d)
		first.retryWithdrawals(context.Background(), ln)
	}
}

// TestDeferredWithdrawalBacksOff: while the ledger cannot be read, the
// retry of a deferred withdrawal waits twice as long after each failure
// (5 s, 10 s, 20 s, …) instead of reading the ledger every 5 s; once it
// reads again the copy is withdrawn and the pace is 5 s again.
func TestDeferredWithdrawalBacksOff(t *testing.T) {
	first, fl, withdrawn, retryAfter := retryOnClock(t)
	fl.fail.Store(true)
	at := func(d time.Duration) int64 {
		retryAfter(d)
		return fl.tries.Load()
	}
	// Each step: how long after the previous step, and the reads made by
	// then.
	for i, step := range []struct {
		after time.Duration
		reads int64
	}{
		{0, 1},                // due: it fails
		{6 * time.Second, 1},  // waits 10 s now
		{5 * time.Second, 2},  // fails again
		{15 * time.Second, 2}, // waits 20 s
		{6 * time.Second, 3},
		{39 * time.Second, 3}, // waits 40 s
		{2 * time.Second, 4},
	} {
		if got := at(step.after); got != step.reads {
			t.Fatalf("step %d (+%s): %d ledger reads, want %d", i, step.after, got, step.reads)
		}
	}
	fl.fail.Store(false)
	if at(80 * time.Second); !withdrawn() {
		t.Fatal("the ledger reads again: the copy was not withdrawn")
	}
	first.mu.Lock()
	fails := first.deferredFails
	first.mu.Unlock()
	if fails != 0 {
		t.Errorf("after a retry that succeeded, %d failures count", fails)
	}
}

// TestDeferredWithdrawalBacksOffPerCopy: a copy whose site's store fails
// waits longer after each failed withdrawal (10 s, 20 s, …), while the
// retries of the others keep their 5 s pace. The ledger, read whole, is
// not read while no deferred copy is due. Once the store is back the copy
// is withdrawn.
func TestDeferredWithdrawalBacksOffPerCopy(t *testing.T) {
	first, fl, withdrawn, retryAfter := retryOnClock(t)
	site, err := first.Site("alpha")
	if err != nil {
		t.Fatal(err)
	}
	// The tenant's part of alpha's store becomes a file: listing or
	// deleting the copy's chunks fails, whoever runs the test.
	part := filepath.Join(strings.TrimPrefix(first.SiteStore(site), "file://"), filepath.FromSlash(DataPrefix("t1")))
	if err := os.Rename(part, part+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(part, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	fails := func() int {
		first.mu.Lock()
		defer first.mu.Unlock()
		for _, b := range first.deferredBackoff {
			return b.fails
		}
		return 0
	}
	at := func(d time.Duration) (reads int64, copyFails int) {
		retryAfter(d)
		return fl.reads.Load(), fails()
	}
	for i, step := range []struct {
		after time.Duration
		reads int64
		fails int
	}{
		{0, 1, 1},                // tried: the store fails
		{6 * time.Second, 1, 1},  // the copy waits 10 s: nothing is due
		{5 * time.Second, 2, 2},  // tried again
		{6 * time.Second, 2, 2},  // waits 20 s
		{15 * time.Second, 3, 3}, // tried again
	} {
		if r, f := at(step.after); r != step.reads || f != step.fails {
			t.Fatalf("step %d (+%s): %d ledger reads, %d failures of the copy; want %d and %d", i, step.after, r, f, step.reads, step.fails)
		}
	}
	if withdrawn() {
		t.Fatal("withdrawn while its store failed")
	}
	if err := os.Remove(part); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(part+".away", part); err != nil {
		t.Fatal(err)
	}
	if at(41 * time.Second); !withdrawn() {
		t.Fatal("the store is back: the copy was not withdrawn")
	}
	if f := fails(); f != 0 {
		t.Errorf("after the withdrawal, %d failures of the copy count", f)
	}
}

// cutStaging is a staging's progress that cancels it once n objects have
// reached the site and read back intact, when armed.
type cutStaging struct {
	n      int64
	seen   atomic.Int64
	cancel atomic.Pointer[context.CancelFunc]
}

func (c *cutStaging) Start(string, int64) {}
func (c *cutStaging) Done()               {}
func (c *cutStaging) Add(int64) {
	if f := c.cancel.Load(); f != nil && c.seen.Add(1) == c.n {
		(*f)()
	}
}

// TestCutCopyWithdrawn: a staging cut after its first chunk reached the
// site leaves ciphertext there, and the objects it had not sent under an
// open intent (a write cut midway may still have landed).
// When the law then denies the site, the law check withdraws that partial
// copy as it does a whole one: its objects are deleted, the withdrawal is
// recorded, and the open intent is closed (the chunk that crossed
// confirmed), so that the ledger says what crossed and nothing is left
// pending at a site the data may not be.
func TestCutCopyWithdrawn(t *testing.T) {
	cut := &cutStaging{n: 1}
	e, rs := lawEnv(t, func(c *Config) { c.Stager.Workers, c.Stager.Progress = 1, cut })
	ctx := context.Background()
	keys, err := dataset.TenantKeyrings{Root: e.dir}.For("t1")
	if err != nil {
		t.Fatal(err)
	}
	ds := addDataset(t, e.dir, keys, testData{name: "corpus", origin: "MY", class: catalog.ClassPublic, stored: true})
	org := "apiVersion: meridian.dev/v1alpha1\nkind: Organization\nmetadata: {name: lab}\nspec:\n  headquarters: MY\n"
	if _, err := e.c.Apply(ctx, "t1", []Document{{Name: "res.yaml", Content: org + ds}}, false); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cut.cancel.Store(&cancel)
	if _, err := e.c.StageDataset(sctx, "t1", "corpus", StageRequest{Site: "alpha", Organization: "lab"}); err == nil {
		t.Fatal("the cut staging succeeded")
	}
	site, err := e.c.Site("alpha")
	if err != nil {
		t.Fatal(err)
	}
	atSite := func() int {
		b, err := dataset.OpenStore(ctx, e.c.SiteStore(site))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		n := 0
		for _, err := range b.Sub(DataPrefix("t1")).List(ctx, path.Dir(dataset.ManifestKey("corpus"))+"/") {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		return n
	}
	if atSite() == 0 {
		t.Fatal("the cut staging left nothing at the site")
	}
	led := transfer.AuditLedger{Store: e.st}
	if open, err := transfer.OpenIntents(ctx, led, "t1", transfer.KindDataset, "corpus", "alpha"); err != nil || len(open) != 1 {
		t.Fatalf("after the cut: %d open intents (%v), want 1", len(open), err)
	}
	confirmedBytes := func() int64 {
		sums, err := transfer.Summarize(ctx, led, "t1")
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, s := range sums {
			n += s.BytesConfirmed
		}
		return n
	}
	if _, _, err := rs.Apply(ctx, rules.Change{Files: []policy.File{licencedTransferPack("test-no-sg-data", "SG")}}, "admin", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	e.c.Nudge()
	deadline := time.Now().Add(20 * time.Second)
	for {
		rev, _, err := e.st.LawCheck(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rev == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no law check under the new revision")
		}
		time.Sleep(20 * time.Millisecond)
	}
	w := firstWithdrawal(t, e.st)
	if w == nil || w.Dataset != "corpus" || w.Site != "alpha" || len(w.Rules) == 0 || w.Rules[0] != "test-no-sg-data" {
		t.Errorf("withdrawal %+v, want corpus at alpha under test-no-sg-data", w)
	}
	if n := atSite(); n != 0 {
		t.Errorf("%d objects of the cut copy left at a site the law now denies", n)
	}
	if open, err := transfer.OpenIntents(ctx, led, "t1", transfer.KindDataset, "corpus", "alpha"); err != nil || len(open) != 0 {
		t.Errorf("after the withdrawal: %d intents still open (%v)", len(open), err)
	}
	if n := confirmedBytes(); n == 0 {
		t.Error("the ledger confirms no byte of the chunk that crossed before the cut")
	}
}

// TestDeposedLeaderWithdrawsNothing: a controller whose lease another took
// (it froze past its term, and does not know yet) deletes no copy at a
// site: another leads now, under whatever law or staging came since, and
// the law check it would finish is that leader's to make.
func TestDeposedLeaderWithdrawsNothing(t *testing.T) {
	_, server, first, withdrawn, unlock := deferredCopy(t)
	unlock()
	first.mu.Lock()
	first.deferredTry = time.Time{} // the retry is due
	first.mu.Unlock()
	// Its term's fence, of a lease it no longer holds.
	deposed := store.WithFence(context.Background(), store.Fence{Lease: store.ControllerLease, Epoch: 1})
	first.lawTick(deposed)
	if withdrawn() {
		t.Fatal("a controller no longer leading withdrew a copy")
	}
	// The one that leads now withdraws it.
	server("next").lawTick(context.Background())
	if !withdrawn() {
		t.Fatal("the copy was not withdrawn by the leader")
	}
}
