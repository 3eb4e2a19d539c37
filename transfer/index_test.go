package transfer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/store"
)

func sqliteLedger(t testing.TB) (AuditLedger, *store.SQLite) {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "m.db"), store.Options{AuditKey: []byte("index test key 0123456789abcdef!")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return AuditLedger{Store: st}, st
}

// countingLedger counts the records each RecordsAfter returns.
type countingLedger struct {
	SeqLedger
	read []int
}

func (c *countingLedger) RecordsAfter(ctx context.Context, tenant string, after int64, kinds ...string) ([]Record, error) {
	recs, err := c.SeqLedger.RecordsAfter(ctx, tenant, after, kinds...)
	c.read = append(c.read, len(recs))
	return recs, err
}

// TestIndexAgreesWithAFreshFold appends a random history of copies (intents,
// confirmations, abandonments, of datasets and checkpoints, at several
// sites, for two tenants and the default tenant's untenanted records) and,
// every few steps, asks an Index and a plain ledger the same questions:
// both must give the totals and open intents the test kept itself, while
// the Index reads only what was appended since it last asked.
func TestIndexAgreesWithAFreshFold(t *testing.T) {
	ctx := context.Background()
	plain, st := sqliteLedger(t)
	counted := &countingLedger{SeqLedger: plain}
	ix := NewIndex(counted)
	// headed reads the log only when its head changed, from the head.
	headed := NewIndex(plain)
	rng := rand.New(rand.NewPCG(7, 11))
	tenants := []string{"acme", "zeta", dataset.DefaultTenant}
	datasets := []string{"d1", "d2"}
	sites := []string{"s1", "s2"}
	kinds := []string{KindDataset, KindCheckpoint}
	// live: intents that records may still name (a reconciled intent is
	// confirmed in part, then abandoned); open: those no record has
	// closed yet; sums: the totals the test expects.
	live := map[string][]Intent{}
	open := map[string]map[string]Intent{}
	sums := map[string]map[sumKey]*Summary{}
	for _, ten := range tenants {
		open[ten], sums[ten] = map[string]Intent{}, map[sumKey]*Summary{}
	}
	appended := 0
	for step := range 300 {
		tenant := tenants[rng.IntN(len(tenants))]
		switch n := rng.IntN(10); {
		case n < 4 || len(live[tenant]) == 0: // an intent
			e := Entry{Kind: kinds[rng.IntN(2)], Dataset: datasets[rng.IntN(2)], Site: sites[rng.IntN(2)]}
			in := Intent{ID: fmt.Sprintf("i%d", step), Entry: e}
			for k := range 1 + rng.IntN(3) {
				in.Objects = append(in.Objects, Object{Key: fmt.Sprintf("o%d-%d", step, k), Bytes: int64(1 + rng.IntN(1000))})
			}
			if tenant == dataset.DefaultTenant && rng.IntN(2) == 0 {
				// Written before records named their tenant.
				if err := audit.NewLog(st).Append(ctx, KindIntent, "", in); err != nil {
					t.Fatal(err)
				}
			} else if err := plain.Append(ctx, tenant, KindIntent, "", in); err != nil {
				t.Fatal(err)
			}
			live[tenant] = append(live[tenant], in)
			open[tenant][in.ID] = in
		case n < 8: // a confirmation, of some of an intent's objects
			i := rng.IntN(len(live[tenant]))
			in := live[tenant][i]
			conf := in.Entry
			conf.Intent, conf.ChunksSent, conf.BytesSent = in.ID, 1+rng.IntN(5), int64(rng.IntN(5000))
			if err := plain.Append(ctx, tenant, KindTransfer, "", conf); err != nil {
				t.Fatal(err)
			}
			k := sumKey{in.Kind, in.Dataset, in.Site}
			if sums[tenant][k] == nil {
				sums[tenant][k] = &Summary{Kind: k.kind, Dataset: k.dataset, Site: k.site}
			}
			sums[tenant][k].ChunksSent += conf.ChunksSent
			sums[tenant][k].BytesConfirmed += conf.BytesSent
			delete(open[tenant], in.ID)
			if rng.IntN(2) == 0 {
				live[tenant] = append(live[tenant][:i], live[tenant][i+1:]...)
			}
		default: // an abandonment
			i := rng.IntN(len(live[tenant]))
			in := live[tenant][i]
			if err := plain.Append(ctx, tenant, KindAbandoned, "", Abandoned{Intent: in.ID, Dataset: in.Dataset, Site: in.Site, Missing: []string{"x"}}); err != nil {
				t.Fatal(err)
			}
			delete(open[tenant], in.ID)
			live[tenant] = append(live[tenant][:i], live[tenant][i+1:]...)
		}
		appended++
		if rng.IntN(4) != 0 {
			continue
		}
		// Ask about every tenant, as a server's readers would.
		before := len(counted.read)
		for _, ten := range tenants {
			want := expectedTotals(sums[ten], open[ten])
			fresh, err := Summarize(ctx, plain, ten)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, fresh); diff != "" {
				t.Fatalf("step %d, tenant %s: totals of a fresh fold (-want +got):\n%s", step, ten, diff)
			}
			for _, l := range []*Index{ix, headed} {
				got, err := Summarize(ctx, l, ten)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("step %d, tenant %s: totals of the index (-want +got):\n%s", step, ten, diff)
				}
			}
			for _, k := range kinds {
				for _, d := range datasets {
					for _, s := range sites {
						var want []Intent
						for _, in := range live[ten] { // in the order recorded
							if _, ok := open[ten][in.ID]; ok && in.Kind == k && in.Dataset == d && in.Site == s {
								want = append(want, in)
							}
						}
						for _, l := range []Ledger{plain, ix, headed} {
							got, err := OpenIntents(ctx, l, ten, k, d, s)
							if err != nil {
								t.Fatal(err)
							}
							if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
								t.Fatalf("step %d, tenant %s, %s %s at %s: open intents of %T (-want +got):\n%s", step, ten, k, d, s, l, diff)
							}
						}
					}
				}
			}
		}
		// Every record appended since the last questions is read once,
		// by the first question about its tenant; the rest read none.
		read := 0
		for _, n := range counted.read[before:] {
			read += n
		}
		if read != appended {
			t.Fatalf("step %d: the index read %d records, %d were appended since it last asked", step, read, appended)
		}
		appended = 0
	}
}

// expectedTotals is what Summarize should say, from the test's own books.
func expectedTotals(sums map[sumKey]*Summary, open map[string]Intent) []Summary {
	all := map[sumKey]Summary{}
	for k, s := range sums {
		all[k] = *s
	}
	for _, in := range open {
		k := sumKey{in.Kind, in.Dataset, in.Site}
		s := all[k]
		s.Kind, s.Dataset, s.Site = k.kind, k.dataset, k.site
		s.OpenIntents++
		for _, o := range in.Objects {
			s.BytesPending += o.Bytes
		}
		all[k] = s
	}
	out := []Summary{}
	for _, s := range all {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Summary) int {
		return strings.Compare(a.Dataset+"\x00"+a.Site+"\x00"+a.Kind, b.Dataset+"\x00"+b.Site+"\x00"+b.Kind)
	})
	return out
}

// seqless answers every record whatever after says.
type seqless struct{ Ledger }

func (s seqless) RecordsAfter(ctx context.Context, tenant string, after int64, kinds ...string) ([]Record, error) {
	return s.Records(ctx, tenant, kinds...)
}

// TestIndexRefusesARecordTwice: a ledger that answers records the Index
// has already read (it ignores after) would have them counted again; the
// Index says so instead.
func TestIndexRefusesARecordTwice(t *testing.T) {
	ctx := context.Background()
	fl := &FileLedger{Path: filepath.Join(t.TempDir(), "ledger.jsonl")}
	if err := fl.Append(ctx, "acme", KindIntent, "", Intent{ID: "i1", Entry: Entry{Dataset: "d", Site: "s"}}); err != nil {
		t.Fatal(err)
	}
	ix := NewIndex(seqless{fl})
	if sums, err := Summarize(ctx, ix, "acme"); err != nil || len(sums) != 1 || sums[0].OpenIntents != 1 {
		t.Fatalf("first read: %+v %v", sums, err)
	}
	if sums, err := Summarize(ctx, ix, "acme"); err == nil {
		t.Fatalf("a record read twice was folded twice: %+v", sums)
	}
}

// TestExportIndexAgreesWithTheLedger appends a random history of copies by
// several tenants (organisations, origins, destinations, dates, head
// counts; some intents abandoned, some reconciled in part) and, every few
// steps, asks an ExportIndex and LedgerExports over the asking tenant's
// records the same volume questions for each tenant: their answers must be
// the same, and the index must read each record once. The tenants' own
// organisations share names ("lab" at both), and neither's exports count
// for the other.
func TestExportIndexAgreesWithTheLedger(t *testing.T) {
	ctx := context.Background()
	led, st := sqliteLedger(t)
	reads := 0
	ix := AuditExports(countingStore{st, &reads})
	full := ExportsOf(led)
	rng := rand.New(rand.NewPCG(3, 5))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	class := map[string]string{"a": "personal", "b": "sensitive-personal", "c": "personal"}
	type liveIntent struct {
		Intent
		tenant string
	}
	var live []liveIntent
	appended := 0
	for step := range 400 {
		switch n := rng.IntN(10); {
		case n < 4 || len(live) == 0:
			ds := pick("a", "b", "c")
			e := Entry{Kind: pick(KindDataset, KindDataset, KindCheckpoint), Dataset: ds, Site: "s", Organization: pick("lab", "sister", "other", ""),
				Origin: pick("CN", "DE"), To: pick("CN", "SG", "MY"), AsOf: pick("2025-12-31", "2026-03-01", "2026-06-30", "2027-01-02"),
				Classification: class[ds], Subjects: int64(10 * (1 + rng.IntN(3)))}
			in := liveIntent{Intent{ID: fmt.Sprintf("i%d", step), Entry: e, Objects: []Object{{Key: "k", Bytes: 1}}}, pick("t1", "t2")}
			if err := led.Append(ctx, in.tenant, KindIntent, "", in.Intent); err != nil {
				t.Fatal(err)
			}
			live = append(live, in)
		case n < 8:
			i := rng.IntN(len(live))
			conf := live[i].Entry
			conf.Intent, conf.ChunksSent = live[i].ID, 1
			if err := led.Append(ctx, live[i].tenant, KindTransfer, "", conf); err != nil {
				t.Fatal(err)
			}
			if rng.IntN(2) == 0 {
				live = append(live[:i], live[i+1:]...)
			}
		default:
			i := rng.IntN(len(live))
			if err := led.Append(ctx, live[i].tenant, KindAbandoned, "", Abandoned{Intent: live[i].ID, Dataset: live[i].Dataset, Site: "s"}); err != nil {
				t.Fatal(err)
			}
			live = append(live[:i], live[i+1:]...)
		}
		appended++
		if rng.IntN(5) != 0 {
			continue
		}
		before := reads
		for _, tenant := range []string{"t1", "t2", dataset.DefaultTenant} {
			for _, q := range []struct {
				orgs         []string
				origin       string
				since, until string
			}{
				{[]string{"lab"}, "CN", "2026-01-01", "2026-12-31"},
				{[]string{"lab", "sister"}, "CN", "2025-01-01", "2027-12-31"},
				{[]string{"sister", "other"}, "DE", "2026-03-01", "2026-03-01"},
				{[]string{"nobody"}, "CN", "2025-01-01", "2027-12-31"},
			} {
				since, until := catalog.MustDate(q.since), catalog.MustDate(q.until)
				want, err := full.Exported(ctx, tenant, q.orgs, q.origin, since, until)
				if err != nil {
					t.Fatal(err)
				}
				// The same dataset may be reported twice, exported and
				// staged within its origin: the export first.
				slices.SortFunc(want, func(a, b policy.Export) int {
					if exportLess(a, b) {
						return -1
					}
					return 1
				})
				got, err := ix.Exported(ctx, tenant, q.orgs, q.origin, since, until)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
					t.Fatalf("step %d, tenant %s, %+v (-ledger +index):\n%s", step, tenant, q, diff)
				}
			}
		}
		if reads-before != appended {
			t.Fatalf("step %d: the index read %d records, %d were appended since it last asked", step, reads-before, appended)
		}
		appended = 0
	}

	// An entry whose date does not parse fails the questions it would
	// answer, as LedgerExports does, and no others.
	bad := Entry{Kind: KindDataset, Dataset: "a", Organization: "lab", Origin: "CN", To: "SG", AsOf: "someday", Classification: "personal", Subjects: 1}
	if err := led.Append(ctx, "t1", KindTransfer, "", bad); err != nil {
		t.Fatal(err)
	}
	year := [2]catalog.Date{catalog.MustDate("2026-01-01"), catalog.MustDate("2026-12-31")}
	for _, l := range []policy.Exports{full, ix} {
		if _, err := l.Exported(ctx, "t1", []string{"lab"}, "CN", year[0], year[1]); err == nil {
			t.Errorf("%T: an export with a bad date was counted or skipped", l)
		}
		if _, err := l.Exported(ctx, "t1", []string{"sister"}, "CN", year[0], year[1]); err != nil {
			t.Errorf("%T: another organisation's question failed: %v", l, err)
		}
		if _, err := l.Exported(ctx, "t2", []string{"lab"}, "CN", year[0], year[1]); err != nil {
			t.Errorf("%T: another tenant's question failed: %v", l, err)
		}
	}
}

// everyRecordExports is LedgerExports over every tenant's ledger records,
// read whole for each question: what the server asked before ExportIndex.
func everyRecordExports(l AuditLedger) LedgerExports {
	return LedgerExports{Entries: func(ctx context.Context, _ string) ([]Entry, error) {
		recs, err := l.records(ctx, store.AuditQuery{Kinds: ledgerKinds, AllTenants: true})
		if err != nil {
			return nil, err
		}
		return ExportEntries(recs)
	}}
}

// countingStore counts the ledger records an ExportIndex reads.
type countingStore struct {
	*store.SQLite
	n *int
}

func (c countingStore) AuditSelect(ctx context.Context, q store.AuditQuery) ([]audit.Entry, error) {
	es, err := c.SQLite.AuditSelect(ctx, q)
	*c.n += len(es)
	return es, err
}
