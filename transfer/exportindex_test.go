package transfer

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"sync"
	"testing"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/policy"
)

// memRecords is a ledger's records of every tenant in memory, in seq
// order, as an ExportIndex reads them; it is safe for concurrent use.
type memRecords struct {
	mu   sync.Mutex
	recs []Record
}

func (m *memRecords) add(t testing.TB, tenant, kind string, v any) {
	t.Helper()
	p, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	m.addRaw(tenant, kind, p)
}

func (m *memRecords) addRaw(tenant, kind string, payload []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs = append(m.recs, Record{Seq: int64(len(m.recs) + 1), Kind: kind, Tenant: tenant, Payload: payload})
}

func (m *memRecords) read(ctx context.Context, after int64) ([]Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	i := sort.Search(len(m.recs), func(i int) bool { return m.recs[i].Seq > after })
	return append([]Record(nil), m.recs[i:]...), nil
}

// exportHistory appends n random records to m: intents, confirmations
// and abandonments of several tenants ("" and the default tenant are one),
// with organisations, origins, destinations, dates (some that do not
// parse, or parse alike though written apart), classes and head counts
// (often tied) drawn at random; intents reopened under the same id,
// confirmations that differ from their intent, or name another tenant's
// intent or none, and abandonments of intents never recorded.
func exportHistory(t testing.TB, rng *rand.Rand, m *memRecords, n int, bad bool) {
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	tenants := []string{"t1", "t2", "t3", "", dataset.DefaultTenant}
	dates := []string{"2025-12-31", "2026-01-01", "2026-03-01", " 2026-03-01", "2026-06-30", "2026-12-31", "2027-01-02"}
	if bad {
		dates = append(dates, "someday", "2026-13-01", "1000-01-01")
	}
	entry := func() Entry {
		return Entry{Kind: pick(KindDataset, KindDataset, KindDataset, "", KindCheckpoint), Dataset: pick("a", "b", "c", "d"), Site: "s",
			Organization: pick("lab", "lab", "sister", "other", ""), Origin: pick("CN", "CN", "DE", ""), To: pick("CN", "SG", "DE", ""),
			AsOf: pick(dates...), Classification: pick("personal", "sensitive-personal"), Subjects: int64(10 * rng.IntN(4)),
			Registration: pick("", "", "r1", "r2"), Group: [][]string{nil, nil, {"lab", "sister"}, {"other", "sister"}, {"sister", "lab", "other"}}[rng.IntN(5)]}
	}
	ids := 0
	intent := func() string { return fmt.Sprintf("i%d", rng.IntN(ids+1)) }
	for range n {
		tenant := pick(tenants...)
		switch k := rng.IntN(10); {
		case k < 4:
			ids++
			m.add(t, tenant, KindIntent, Intent{ID: intent(), Entry: entry(), Objects: []Object{{Key: "k", Bytes: 1}}})
		case k < 8:
			e := entry()
			if rng.IntN(4) != 0 {
				e.Intent = intent()
			}
			m.add(t, tenant, KindTransfer, e)
		default:
			m.add(t, tenant, KindAbandoned, Abandoned{Intent: intent(), Dataset: "a", Site: "s"})
		}
	}
}

// exportQuestion is a random volume question.
func exportQuestion(rng *rand.Rand) (tenant string, orgs []string, origin string, since, until catalog.Date) {
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	tenant = pick("t1", "t2", "t3", "t4", "", dataset.DefaultTenant)
	for range rng.IntN(4) {
		orgs = append(orgs, pick("lab", "sister", "other", "", "nobody"))
	}
	dates := []string{"2025-01-01", "2026-01-01", "2026-03-01", "2026-12-31", "2027-12-31"}
	since, until = catalog.MustDate(pick(dates...)), catalog.MustDate(pick(dates...))
	return tenant, orgs, pick("CN", "DE", "", "FR"), since, until
}

// sameAnswer fails t unless the index answers the question as the scan
// over every tenant's facts did: the same exports in the same order, or
// the same error.
func sameAnswer(t *testing.T, step int, x *ExportIndex, scan *scanExportIndex, tenant string, orgs []string, origin string, since, until catalog.Date) {
	t.Helper()
	ctx := context.Background()
	want, werr := scan.Exported(ctx, tenant, orgs, origin, since, until)
	got, gerr := x.Exported(ctx, tenant, orgs, origin, since, until)
	if fmt.Sprint(werr) != fmt.Sprint(gerr) {
		t.Fatalf("step %d, %q %q %q %s..%s: error %v, the scan's %v", step, tenant, orgs, origin, since, until, gerr, werr)
	}
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("step %d, %q %q %q %s..%s:\n index %+v\n scan  %+v", step, tenant, orgs, origin, since, until, got, want)
	}
}

// TestExportIndexAnswersAsTheScan: over random histories, caught up a few
// records at a time, the index gives every volume question the answer the
// scan over every tenant's facts gave, the same exports in the same
// order or the same error (a date that does not parse).
func TestExportIndexAnswersAsTheScan(t *testing.T) {
	for seed := range uint64(40) {
		rng := rand.New(rand.NewPCG(seed, 99))
		m := &memRecords{}
		x, scan := NewExportIndex(m.read), newScanExportIndex(m.read)
		// Half the histories hold dates that do not parse, which fail
		// most questions; the other half test the answers themselves.
		bad := seed%2 == 1
		for step := range 60 {
			exportHistory(t, rng, m, 1+rng.IntN(8), bad)
			for range 10 {
				tenant, orgs, origin, since, until := exportQuestion(rng)
				sameAnswer(t, step, x, scan, tenant, orgs, origin, since, until)
			}
		}
	}
}

// TestExportIndexBadRecord: a payload that does not decode fails every
// question, as it did, and leaves the index as it was.
func TestExportIndexBadRecord(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	m := &memRecords{}
	x, scan := NewExportIndex(m.read), newScanExportIndex(m.read)
	exportHistory(t, rng, m, 200, false)
	sameAnswer(t, 0, x, scan, "t1", []string{"lab"}, "CN", catalog.MustDate("2025-01-01"), catalog.MustDate("2027-12-31"))
	exportHistory(t, rng, m, 20, false)
	m.addRaw("t1", KindTransfer, []byte(`{"dataset":`))
	for step := range 3 {
		sameAnswer(t, step, x, scan, "t1", []string{"lab"}, "CN", catalog.MustDate("2025-01-01"), catalog.MustDate("2027-12-31"))
	}
}

// TestExportIndexConcurrent: questions asked while records are appended,
// from several goroutines (run with -race), then the same answers as the
// scan.
func TestExportIndexConcurrent(t *testing.T) {
	m := &memRecords{}
	x, scan := NewExportIndex(m.read), newScanExportIndex(m.read)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(5, 6))
		for range 100 {
			exportHistory(t, rng, m, 5, false)
		}
	}()
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for range 200 {
				tenant, orgs, origin, since, until := exportQuestion(rng)
				if _, err := x.Exported(context.Background(), tenant, orgs, origin, since, until); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	rng := rand.New(rand.NewPCG(8, 9))
	for step := range 200 {
		tenant, orgs, origin, since, until := exportQuestion(rng)
		sameAnswer(t, step, x, scan, tenant, orgs, origin, since, until)
	}
}

// manyTenantsExports is an index, caught up, over tenants tenants' facts
// facts each: the tenant's organisations lab, sister and other's
// confirmations of datasets from CN or DE over 2026, some still open
// intents. Tenant t0 asks of CN in 2026 for lab and sister.
func manyTenantsExports(t testing.TB, tenants, facts int) *ExportIndex {
	m := &memRecords{}
	orgs := []string{"lab", "sister", "other"}
	for ten := range tenants {
		tenant := fmt.Sprintf("t%d", ten)
		for i := range facts {
			e := Entry{Kind: KindDataset, Dataset: fmt.Sprintf("d%d", i%50), Site: "s", Organization: orgs[i%3], Origin: []string{"CN", "DE"}[i/3%2],
				To: "SG", AsOf: fmt.Sprintf("2026-%02d-%02d", 1+i%12, 1+i%28), Classification: "personal", Subjects: int64(1000 + i)}
			if i%10 == 0 {
				m.add(t, tenant, KindIntent, Intent{ID: fmt.Sprintf("i%d", i), Entry: e})
			} else {
				m.add(t, tenant, KindTransfer, e)
			}
		}
	}
	x := NewExportIndex(m.read)
	if _, err := x.Exported(context.Background(), "t0", []string{"lab", "sister"}, "CN", catalog.MustDate("2026-01-01"), catalog.MustDate("2026-12-31")); err != nil {
		t.Fatal(err)
	}
	return x
}

// TestExportQuestionCostsItsTenantsFacts: a volume question looks at the
// asking tenant's facts of its organisations and origin only, however many
// other tenants the index holds: with 100 tenants of 1,000 facts each it
// looks at as many as with one. The scan looked at every tenant's facts.
func TestExportQuestionCostsItsTenantsFacts(t *testing.T) {
	cost := func(x *ExportIndex) int {
		before := x.considered
		xs, err := x.Exported(context.Background(), "t0", []string{"lab", "sister"}, "CN", catalog.MustDate("2026-01-01"), catalog.MustDate("2026-12-31"))
		if err != nil || len(xs) == 0 {
			t.Fatal(xs, err)
		}
		return x.considered - before
	}
	one, many := cost(manyTenantsExports(t, 1, 1000)), cost(manyTenantsExports(t, 100, 1000))
	// Of t0's 1,000 facts, a third are each organisation's and half of
	// those from CN: about 333 for lab and sister together.
	if one == 0 || one > 400 || many != one {
		t.Errorf("a question looked at %d facts among one tenant's, %d among 100 tenants'; want the same, at most t0's 333 of lab and sister from CN", one, many)
	}
}

// BenchmarkExportIndexQuestion: one volume question (a tenant's two
// organisations' exports from CN in 2026, as each placement's law check
// asks) of an index holding tenants tenants' 1,000 facts each, caught up.
func BenchmarkExportIndexQuestion(b *testing.B) {
	for _, tenants := range []int{1, 100} {
		x := manyTenantsExports(b, tenants, 1000)
		b.Run(fmt.Sprintf("tenants=%d", tenants), func(b *testing.B) {
			year := [2]catalog.Date{catalog.MustDate("2026-01-01"), catalog.MustDate("2026-12-31")}
			for b.Loop() {
				xs, err := x.Exported(context.Background(), "t0", []string{"lab", "sister"}, "CN", year[0], year[1])
				if err != nil || len(xs) == 0 {
					b.Fatal(xs, err)
				}
			}
		})
	}
}

// TestExportIndexMemoryAsTheFacts: the index keeps each fact and open
// intent once, as the scan did, and no map for a tenant, origin and
// organisation that has neither: intents opened and closed leave no open
// intent behind.
func TestExportIndexMemoryAsTheFacts(t *testing.T) {
	ctx := context.Background()
	year := [2]catalog.Date{catalog.MustDate("2026-01-01"), catalog.MustDate("2026-12-31")}
	check := func(step int, x *ExportIndex, scan *scanExportIndex) {
		t.Helper()
		x.Exported(ctx, "t1", []string{"lab"}, "CN", year[0], year[1])
		scan.Exported(ctx, "t1", []string{"lab"}, "CN", year[0], year[1])
		facts := 0
		for s, m := range x.facts {
			if len(m) == 0 {
				t.Fatalf("step %d: an empty map of facts for %+v", step, s)
			}
			for f := range m {
				if f.scope() != s {
					t.Fatalf("step %d: fact %+v kept under %+v", step, f, s)
				}
			}
			facts += len(m)
		}
		open := 0
		for s, m := range x.openIn {
			if len(m) == 0 {
				t.Fatalf("step %d: an empty map of open intents for %+v", step, s)
			}
			for k, o := range m {
				if x.open[k] != o || o.fact.scope() != s {
					t.Fatalf("step %d: open intent %s kept under %+v, and as %+v", step, k, s, x.open[k])
				}
			}
			open += len(m)
		}
		if facts != len(scan.facts) || open != len(x.open) || open != len(scan.open) {
			t.Fatalf("step %d: the index keeps %d facts and %d (%d) open intents, the scan kept %d and %d",
				step, facts, open, len(x.open), len(scan.facts), len(scan.open))
		}
	}
	for seed := range uint64(10) {
		rng := rand.New(rand.NewPCG(seed, 3))
		m := &memRecords{}
		x, scan := NewExportIndex(m.read), newScanExportIndex(m.read)
		for step := range 40 {
			exportHistory(t, rng, m, 1+rng.IntN(20), true)
			check(step, x, scan)
		}
	}

	// A tenant that opens and abandons intents of ever new organisations
	// and origins leaves no map of open intents behind; each abandoned
	// intent stays counted, as one fact (the last recorded under its id).
	m := &memRecords{}
	x, scan := NewExportIndex(m.read), newScanExportIndex(m.read)
	for i := range 1000 {
		e := Entry{Kind: KindDataset, Dataset: "a", Organization: fmt.Sprintf("org%d", i), Origin: fmt.Sprintf("X%d", i), To: "SG", AsOf: "2026-03-01", Subjects: 1}
		m.add(t, "t1", KindIntent, Intent{ID: fmt.Sprintf("i%d", i), Entry: e})
		if i%2 == 0 {
			// Recorded again, for another organisation.
			e.Organization += "b"
			m.add(t, "t1", KindIntent, Intent{ID: fmt.Sprintf("i%d", i), Entry: e})
		}
		m.add(t, "t1", KindAbandoned, Abandoned{Intent: fmt.Sprintf("i%d", i)})
	}
	check(0, x, scan)
	if len(x.open) != 0 || len(x.openIn) != 0 || len(x.facts) != 1000 {
		t.Errorf("after every intent was abandoned the index keeps %d open intents, %d maps of them and %d of facts; want none, none and 1000", len(x.open), len(x.openIn), len(x.facts))
	}
}

var _ policy.Exports = (*scanExportIndex)(nil)
