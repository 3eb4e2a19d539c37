package run

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// wholeLedgerCopies is the copies at sites as stagedCopies found them when
// it read the whole ledger on every call, folded as it folded them: the
// reference the incremental read is held to.
func wholeLedgerCopies(t testing.TB, st store.Store) []stagedCopy {
	t.Helper()
	es, err := st.AuditSelect(context.Background(), store.AuditQuery{AllTenants: true,
		Kinds: []string{transfer.KindIntent, transfer.KindTransfer, transfer.KindAbandoned, transfer.KindWithdrawn}})
	if err != nil {
		t.Fatal(err)
	}
	type state struct {
		confirmed bool
		open      map[string]bool
	}
	at := map[stagedCopy]*state{}
	get := func(k stagedCopy) *state {
		if at[k] == nil {
			at[k] = &state{open: map[string]bool{}}
		}
		return at[k]
	}
	org := map[stagedCopy]string{}
	intentOf := map[string]stagedCopy{}
	for _, e := range es {
		switch e.Kind {
		case transfer.KindIntent:
			var in struct {
				ID string `json:"id"`
				transfer.Entry
			}
			if json.Unmarshal(e.Payload, &in) != nil {
				continue
			}
			k := copyKey(e.Tenant, in.Kind, in.Dataset, in.Site, in.RunID)
			get(k).open[in.ID] = true
			intentOf[in.ID] = k
			if in.Organization != "" {
				org[k] = in.Organization
			}
		case transfer.KindTransfer:
			var tr transfer.Entry
			if json.Unmarshal(e.Payload, &tr) != nil {
				continue
			}
			k := copyKey(e.Tenant, tr.Kind, tr.Dataset, tr.Site, tr.RunID)
			st := get(k)
			delete(st.open, tr.Intent)
			if tr.BytesSent == 0 && !tr.Complete {
				continue
			}
			st.confirmed = true
			if tr.Organization != "" {
				org[k] = tr.Organization
			}
		case transfer.KindAbandoned:
			var a transfer.Abandoned
			if json.Unmarshal(e.Payload, &a) == nil {
				k, ok := intentOf[a.Intent]
				if !ok {
					k = copyKey(e.Tenant, "", a.Dataset, a.Site, "")
				}
				if st := at[k]; st != nil {
					delete(st.open, a.Intent)
				}
			}
		case transfer.KindWithdrawn:
			var w transfer.Withdrawn
			if json.Unmarshal(e.Payload, &w) == nil {
				delete(at, copyKey(e.Tenant, w.Kind, w.Dataset, w.Site, w.Run))
			}
		}
	}
	var out []stagedCopy
	for k, st := range at {
		if st.confirmed || len(st.open) > 0 {
			k.org = org[k]
			out = append(out, k)
		}
	}
	sortCopies(out)
	return out
}

// copiesDiff is what got has that want lacks, and the reverse.
func copiesDiff(got, want []stagedCopy) string {
	var extra, missing []stagedCopy
	for _, cp := range got {
		if !slices.Contains(want, cp) {
			extra = append(extra, cp)
		}
	}
	for _, cp := range want {
		if !slices.Contains(got, cp) {
			missing = append(missing, cp)
		}
	}
	return fmt.Sprintf("%d copies, want %d; not wanted %+v; missing %+v", len(got), len(want), extra, missing)
}

// ledgerScript writes random ledger entries over a few tenants, datasets,
// sites and runs: intents, confirmations (of an intent or of none, some
// of no bytes), abandonments (of intents open or not), withdrawals, and
// entries that do not decode.
type ledgerScript struct {
	rng  *rand.Rand
	n    int
	open map[string]stagedCopy // intents written and not yet closed
}

func newLedgerScript(seed uint64) *ledgerScript {
	return &ledgerScript{rng: rand.New(rand.NewPCG(seed, 1)), open: map[string]stagedCopy{}}
}

func (s *ledgerScript) pick(xs ...string) string { return xs[s.rng.IntN(len(xs))] }

// batch is n entries.
func (s *ledgerScript) batch(t testing.TB, n int) []audit.Record {
	t.Helper()
	var recs []audit.Record
	for len(recs) < n {
		tenant := s.pick("", "t1", "t2", catalog.DefaultTenant)
		kind, run := "", ""
		if s.rng.IntN(4) == 0 {
			kind, run = transfer.KindCheckpoint, s.pick("r1", "r2")
		}
		e := transfer.Entry{Kind: kind, Dataset: s.pick("d1", "d2", "d3"), Site: s.pick("alpha", "bravo"), RunID: run,
			From: "MY", To: "SG", AsOf: "2026-01-01", Organization: s.pick("", "lab", "lab2"), Origin: "MY"}
		switch s.rng.IntN(6) {
		case 0, 1:
			s.n++
			id := fmt.Sprintf("i%d", s.n)
			s.open[id] = copyKey(tenant, kind, e.Dataset, e.Site, run)
			recs = append(recs, ledgerRec(t, tenant, transfer.KindIntent, run, intentRec{id, e}))
		case 2:
			// A confirmation of an open intent, as its copy was written.
			for id, k := range s.open {
				e.Kind, e.Dataset, e.Site, e.RunID = k.kind, k.dataset, k.site, k.run
				e.Intent, e.BytesSent, e.Complete = id, int64(s.rng.IntN(2)*100), s.rng.IntN(2) == 0
				delete(s.open, id)
				recs = append(recs, ledgerRec(t, k.tenant, transfer.KindTransfer, k.run, e))
				break
			}
		case 3:
			e.BytesSent, e.Complete = 10, true
			recs = append(recs, ledgerRec(t, tenant, transfer.KindTransfer, run, e))
		case 4:
			// An abandonment: of an open intent, or of one never written.
			id, k := fmt.Sprintf("gone%d", s.rng.IntN(5)), copyKey(tenant, "", e.Dataset, e.Site, "")
			for oid, ok := range s.open {
				if s.rng.IntN(2) == 0 {
					id, k = oid, ok
					delete(s.open, oid)
				}
				break
			}
			recs = append(recs, ledgerRec(t, k.tenant, transfer.KindAbandoned, k.run, transfer.Abandoned{Intent: id, Dataset: k.dataset, Site: k.site}))
		case 5:
			if s.rng.IntN(8) == 0 {
				rec := ledgerRec(t, tenant, transfer.KindTransfer, "", e)
				rec.Payload = json.RawMessage(`{"dataset": 7}`)
				recs = append(recs, rec)
				continue
			}
			recs = append(recs, ledgerRec(t, tenant, transfer.KindWithdrawn, run, transfer.Withdrawn{Kind: kind, Run: run, Dataset: e.Dataset, Site: e.Site}))
		}
	}
	return recs
}

// TestStagedCopiesReadOnlyNewEntries: after its first read of the ledger
// (2,000 entries), each read of the staged copies reads the entries
// appended since, and the copies it finds are those a read of the whole
// ledger finds, through a long script of intents, confirmations,
// abandonments and withdrawals, a page at a time.
func TestStagedCopiesReadOnlyNewEntries(t *testing.T) {
	st, dir := testStore(t)
	ca := &countingAudit{Store: st}
	c := New(Config{Store: ca, StateDir: dir, CatalogDir: "testdata/sites"})
	ctx := context.Background()
	otherTenantsLedger(t, st, 2000)
	if _, err := c.stagedCopies(ctx); err != nil {
		t.Fatal(err)
	}
	defer func(p int) { copyPage = p }(copyPage)
	copyPage = 7 // pages of a few entries: a batch takes several
	s := newLedgerScript(1)
	for i := range 60 {
		n := 1 + i%25
		if err := st.AppendAudit(ctx, s.batch(t, n)...); err != nil {
			t.Fatal(err)
		}
		before := ca.entries.Load()
		got, err := c.stagedCopies(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// The batch, and the last entry read before, read again.
		if read := ca.entries.Load() - before; read > int64(n)+1 {
			t.Fatalf("batch %d: %d entries read for %d new ones", i, read, n)
		}
		if want := wholeLedgerCopies(t, st); !reflect.DeepEqual(got, want) {
			t.Fatalf("batch %d: the copies read since differ from the whole ledger's: %s", i, copiesDiff(got, want))
		}
	}
	// A read of the whole ledger finds them too (ledgerCopies folds as
	// the index does).
	whole, err := c.ledgerCopies(ctx, store.AuditQuery{AllTenants: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := wholeLedgerCopies(t, st); !reflect.DeepEqual(whole, want) {
		t.Fatalf("ledgerCopies: %s", copiesDiff(whole, want))
	}
}

// TestStagedCopiesKeepsOnlyLiveCopies: what the index holds is the copies
// at sites and their open intents, not the ledger's history: 2,000
// copies staged and withdrawn, each by an intent confirmed, leave nothing
// in it.
func TestStagedCopiesKeepsOnlyLiveCopies(t *testing.T) {
	st, dir := testStore(t)
	c := New(Config{Store: st, StateDir: dir, CatalogDir: "testdata/sites"})
	ctx := context.Background()
	var recs []audit.Record
	for i := range 2000 {
		e := transfer.Entry{Dataset: fmt.Sprintf("d%d", i), Site: "alpha", From: "MY", To: "SG", AsOf: "2026-01-01", Origin: "MY"}
		id := fmt.Sprintf("i%d", i)
		recs = append(recs, ledgerRec(t, "t1", transfer.KindIntent, "", intentRec{id, e}))
		e.Intent, e.BytesSent, e.Complete = id, 10, true
		recs = append(recs, ledgerRec(t, "t1", transfer.KindTransfer, "", e))
		recs = append(recs, ledgerRec(t, "t1", transfer.KindWithdrawn, "", transfer.Withdrawn{Dataset: e.Dataset, Site: "alpha"}))
	}
	if err := st.AppendAudit(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	got, err := c.stagedCopies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f := c.copyIndex.fold
	if len(got) != 0 || len(f.at) != 0 || len(f.intentOf) != 0 {
		t.Fatalf("after every copy was withdrawn: %d copies, the index holds %d copies and %d intents", len(got), len(f.at), len(f.intentOf))
	}
}

// TestStagedCopiesReadWholeWhenLogReplaced: a ledger that is not the one
// the index read (a database restored from a backup, another store) is
// read whole again, not from the seq the index had reached.
func TestStagedCopiesReadWholeWhenLogReplaced(t *testing.T) {
	ctx := context.Background()
	a, dir := testStore(t)
	b, _ := testStore(t)
	s := newLedgerScript(2)
	for _, st := range []store.Store{a, b} {
		if err := st.AppendAudit(ctx, s.batch(t, 300)...); err != nil {
			t.Fatal(err)
		}
	}
	c := New(Config{Store: a, StateDir: dir, CatalogDir: "testdata/sites"})
	if _, err := c.stagedCopies(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.AppendAudit(ctx, s.batch(t, 50)...); err != nil {
		t.Fatal(err)
	}
	c.cfg.Store = b
	got, err := c.stagedCopies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := wholeLedgerCopies(t, b)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after the log was replaced: %s", copiesDiff(got, want))
	}
}

// TestStagedCopiesReadFailureFailsClosed: once the index has read the
// ledger, a read that fails is a failure of the law check's copies (no
// copy is judged on what was read before), and the next read goes on.
func TestStagedCopiesReadFailureFailsClosed(t *testing.T) {
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return &failingLedgerReads{Store: st} })
	fl := f.wrapped.(*failingLedgerReads)
	c := f.stagingController(nil)
	s := newLedgerScript(3)
	if err := f.st.AppendAudit(ctx, s.batch(t, 100)...); err != nil {
		t.Fatal(err)
	}
	if _, err := c.stagedCopies(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.st.AppendAudit(ctx, s.batch(t, 10)...); err != nil {
		t.Fatal(err)
	}
	fl.fail.Store(true)
	if got, err := c.stagedCopies(ctx); err == nil {
		t.Fatalf("the ledger failing: %d copies read, no error", len(got))
	}
	removed, unjudged, err := c.recheckCopies(ctx, c.lawNow())
	if err == nil {
		t.Fatalf("recheckCopies with the ledger failing: removed %v, unjudged %v, no error", removed, unjudged)
	}
	fl.fail.Store(false)
	got, err := c.stagedCopies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := wholeLedgerCopies(t, f.st); !reflect.DeepEqual(got, want) {
		t.Fatalf("after the ledger came back: %s", copiesDiff(got, want))
	}
}

// copyName is a copy as recheckCopies names it, less the count of
// objects of a removal.
func copyName(cp stagedCopy) string { return fmt.Sprintf("%s/%s@%s", cp.tenant, cp.dataset, cp.site) }

// TestRecheckCopiesDecisionsMatchWholeRead: the copies each pass of the
// law check removes, and those it cannot judge, are the ones the law in
// force decides for the copies a read of the whole ledger finds, pass
// after pass as new copies are staged and the law changes.
func TestRecheckCopiesDecisionsMatchWholeRead(t *testing.T) {
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	c := f.stagingController(nil)
	keys, err := dataset.TenantKeyrings{Root: f.dir}.For("t1")
	if err != nil {
		t.Fatal(err)
	}
	docs := "apiVersion: meridian.dev/v1alpha1\nkind: Organization\nmetadata: {name: lab}\nspec:\n  headquarters: MY\n"
	for _, d := range []string{"d1", "d2", "d3"} {
		docs += "---\n" + addDataset(t, f.dir, keys, testData{name: d, origin: "MY", class: catalog.ClassPublic})
	}
	if _, err := c.Apply(ctx, "t1", []Document{{Name: "res.yaml", Content: docs}}, false); err != nil {
		t.Fatal(err)
	}
	n := 0
	stage := func(tenant, kind, ds, site, run string) audit.Record {
		n++
		e := transfer.Entry{Kind: kind, Dataset: ds, Site: site, RunID: run, From: "MY", To: "SG", AsOf: "2026-01-01", Organization: "lab", Origin: "MY",
			Intent: fmt.Sprintf("s%d", n), BytesSent: 10, Complete: true}
		return ledgerRec(t, tenant, transfer.KindTransfer, run, e)
	}
	pass := func(name string, recs ...audit.Record) (removed, unjudged []string) {
		t.Helper()
		if len(recs) > 0 {
			if err := f.st.AppendAudit(ctx, recs...); err != nil {
				t.Fatal(err)
			}
		}
		ln := c.lawNow()
		var wantRemoved, wantUnjudged []string
		for _, cp := range wholeLedgerCopies(t, f.st) {
			dec, _, _, _, ok, err := c.copyDecision(ctx, cp, ln, c.today())
			if err != nil {
				t.Fatalf("%s: judging %s: %v", name, copyName(cp), err)
			}
			switch {
			case !ok || !dec.Allowed && !hasCode(dec, policy.CodeDenied):
				wantUnjudged = append(wantUnjudged, copyName(cp))
			case !dec.Allowed:
				wantRemoved = append(wantRemoved, copyName(cp))
			}
		}
		removed, unjudged, err := c.recheckCopies(ctx, ln)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for i, r := range removed {
			removed[i], _, _ = strings.Cut(r, " (")
		}
		for _, l := range [][]string{removed, unjudged, wantRemoved, wantUnjudged} {
			slices.Sort(l)
		}
		if !slices.Equal(removed, wantRemoved) || !slices.Equal(unjudged, wantUnjudged) {
			t.Fatalf("%s: removed %v, unjudged %v; a whole read's decisions: removed %v, unjudged %v", name, removed, unjudged, wantRemoved, wantUnjudged)
		}
		return removed, unjudged
	}
	// Copies the law lets stay, one whose dataset is not registered, and
	// the checkpoint of a run that is not on record (withdrawn).
	removed, unjudged := pass("first", stage("t1", "", "d1", "alpha", ""), stage("t1", "", "d2", "bravo", ""),
		stage("t1", "", "unknown", "alpha", ""), stage("t1", transfer.KindCheckpoint, "ck", "alpha", "r-gone"))
	if len(removed) != 1 || len(unjudged) != 1 {
		t.Fatalf("first pass: removed %v, unjudged %v; want the orphan checkpoint removed and the unknown dataset unjudged", removed, unjudged)
	}
	pass("new copies", stage("t1", "", "d3", "alpha", ""), stage("t1", "", "d1", "bravo", ""))
	// A revision that denies data to SG without a licence: the copies at
	// alpha go, the ones at bravo (MY) stay.
	if _, _, err := f.rs.Apply(ctx, rules.Change{Files: []policy.File{licencedTransferPack("test-no-sg", "SG")}}, "admin", "test", c.cfg.Now()); err != nil {
		t.Fatal(err)
	}
	removed, _ = pass("law change", stage("t1", "", "d2", "alpha", ""))
	if len(removed) != 3 {
		t.Fatalf("after the law change: removed %v, want d1, d2 and d3 at alpha", removed)
	}
	// Staged again at alpha (a staging the law let through before it
	// changed, say), and withdrawn again.
	removed, _ = pass("staged again", stage("t1", "", "d1", "alpha", ""))
	if len(removed) != 1 {
		t.Fatalf("staged again: removed %v, want d1 at alpha", removed)
	}
	pass("nothing new")
}
