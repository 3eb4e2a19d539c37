package run

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// BenchmarkAPIPlanLedger is one API plan of a job on personal data from
// MY, under a rule that counts lab's earlier exports from MY, once the
// ledger (the audit log, through transfer.AuditExports, as serve reads
// it) holds 2,000 copies of 64 chunks each by lab, over 66 sites in SG:
// the cost of counting the ledger in a server's plan, and how often the
// plan reads it (run with GOMAXPROCS=16 for a server's workers).
func BenchmarkAPIPlanLedger(b *testing.B) {
	ctx := context.Background()
	f := newLawCheckFixture(b, func(st store.Store) store.Store { return st })
	var recs []audit.Record
	for i := range 2000 {
		recs = append(recs, volumeCopy(b, i)...)
		if len(recs) >= 500 {
			if err := f.st.AppendAudit(ctx, recs...); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	ledger := &countedExports{Exports: transfer.AuditExports(f.st)}
	c := ledgerController(f, ledger, func(cfg *Config) { cfg.ExtraSites = benchSites(b, 64) })
	if _, _, err := f.rs.Apply(ctx, rules.Change{Files: []policy.File{volumePack("test-volume-my", "MY", 5000)}}, "admin", "test", time.Now()); err != nil {
		b.Fatal(err)
	}
	keys, err := dataset.TenantKeyrings{Root: f.dir}.For("t1")
	if err != nil {
		b.Fatal(err)
	}
	job := dataJobDoc(10, 1, []string{"people"}, false, addDataset(b, f.dir, keys, testData{name: "people", origin: "MY", class: catalog.ClassPersonal}))
	plan := func() {
		if _, err := c.Plan(ctx, "t1", PlanRequest{Documents: []Document{job}}); err != nil {
			b.Fatal(err)
		}
	}
	plan() // the index's one fold after a start
	before := ledger.reads.Load()
	for b.Loop() {
		plan()
	}
	b.ReportMetric(float64(ledger.reads.Load()-before)/float64(b.N), "ledger-reads/op")
}

// countedExports counts the reads of a ledger.
type countedExports struct {
	policy.Exports
	reads atomic.Int64
}

func (e *countedExports) Exported(ctx context.Context, tenant string, orgs []string, origin string, since, until catalog.Date) ([]policy.Export, error) {
	e.reads.Add(1)
	return e.Exports.Exported(ctx, tenant, orgs, origin, since, until)
}

// benchSites are n sites in SG with one pool each.
func benchSites(b *testing.B, n int) []*catalog.Site {
	var docs []string
	for i := range n {
		docs = append(docs, fmt.Sprintf(`apiVersion: meridian.dev/v1alpha1
kind: Site
metadata: {name: sg-%d}
spec:
  country: SG
  location: {lat: 1.3, lon: 103.8}
  operator: {name: test-dc, headquarters: SG}
  pools: [{accelerator: nvidia-h100-sxm, count: 8, available: 8, pricePerHour: %d.0, priceSource: "test value"}]
  network: {egressPerGB: 0.05, gbps: 10}
`, i, 2+i))
	}
	set, err := catalog.Decode("sites.yaml", []byte(strings.Join(docs, "---\n")))
	if err != nil {
		b.Fatal(err)
	}
	return set.Sites
}
