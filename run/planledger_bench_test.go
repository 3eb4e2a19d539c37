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
	heads := &headCounted{SQLite: f.st}
	ledger := &countedExports{Exports: transfer.AuditExports(heads)}
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
	before, headsBefore := ledger.reads.Load(), heads.n.Load()
	for b.Loop() {
		plan()
	}
	b.ReportMetric(float64(ledger.reads.Load()-before)/float64(b.N), "ledger-reads/op")
	b.ReportMetric(float64(heads.n.Load()-headsBefore)/float64(b.N), "head-reads/op")
}

// headCounted counts the reads of the audit log's head.
type headCounted struct {
	*store.SQLite
	n atomic.Int64
}

func (h *headCounted) AuditHeadAt(ctx context.Context, seq int64) (store.AuditHeadRead, error) {
	h.n.Add(1)
	return h.SQLite.AuditHeadAt(ctx, seq)
}

// countedExports counts the reads of a ledger.
type countedExports struct {
	policy.Exports
	reads atomic.Int64
}

// Batch is the counted ledger's batch, counted too, when it has one (as
// a plan asks it).
func (e *countedExports) Batch() policy.Exports {
	b, ok := e.Exports.(interface{ Batch() policy.Exports })
	if !ok {
		return e
	}
	return &countedBatch{Exports: b.Batch(), reads: &e.reads}
}

// countedBatch counts the reads of a batch into its ledger's count.
type countedBatch struct {
	policy.Exports
	reads *atomic.Int64
}

func (e *countedBatch) Exported(ctx context.Context, tenant string, orgs []string, origin string, since, until catalog.Date) ([]policy.Export, error) {
	e.reads.Add(1)
	return e.Exports.Exported(ctx, tenant, orgs, origin, since, until)
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
