package run

import (
	"context"
	"fmt"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// BenchmarkLawCheckUnderVolumeRule is a whole law check (what follows a
// rules change, or a day the law changes on) over 20 runs of organisation
// lab on personal data from MY, under a rule that counts lab's earlier
// exports from MY, once the ledger holds 2,000 copies of 64 chunks each by
// lab: with every ledger record read for each run's question (as the
// server did before transfer.ExportIndex) and through an ExportIndex. One
// more copy is recorded before each check.
func BenchmarkLawCheckUnderVolumeRule(b *testing.B) {
	for _, side := range []string{"every-record", "index"} {
		b.Run(side, func(b *testing.B) {
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
			var ex policy.Exports = transfer.AuditExports(f.st)
			if side == "every-record" {
				ex = transfer.LedgerExports{Entries: func(ctx context.Context, _ string) ([]transfer.Entry, error) {
					es, err := f.st.AuditSelect(ctx, store.AuditQuery{Kinds: []string{transfer.KindIntent, transfer.KindTransfer, transfer.KindAbandoned}, AllTenants: true})
					if err != nil {
						return nil, err
					}
					rs := make([]transfer.Record, 0, len(es))
					for _, e := range es {
						rs = append(rs, transfer.Record{Seq: e.Seq, Kind: e.Kind, Payload: e.Payload})
					}
					return transfer.ExportEntries(rs)
				}}
			}
			c := f.controller(func(cfg *Config) { cfg.Exports = ex })
			first := submitUnderVolumeRule(b, f, c, false)
			for range 19 {
				if _, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: first.Data.Documents}); err != nil {
					b.Fatal(err)
				}
			}
			check := func(n int) {
				if err := f.st.AppendAudit(ctx, volumeCopy(b, n)...); err != nil {
					b.Fatal(err)
				}
				res, err := c.recheckAll(ctx, c.lawNow())
				if err != nil || res.Runs != 20 || res.Lawful+len(res.Held) != 20 || len(res.Moving)+len(res.Undetermined) != 0 {
					b.Fatalf("law check: %+v %v", res, err)
				}
			}
			check(2000) // the index's one fold after a start
			n := 2001
			for b.Loop() {
				check(n)
				n++
			}
		})
	}
}

// volumeCopy is copy i of a 64-chunk dataset exported by lab from MY to
// SG today: its intent and confirmation.
func volumeCopy(b *testing.B, i int) []audit.Record {
	e := transfer.Entry{Kind: transfer.KindDataset, Dataset: fmt.Sprintf("d%d", i%10), Site: "alpha", From: "MY", To: "SG",
		Organization: "lab", Origin: "MY", Classification: "personal", Subjects: 100, AsOf: time.Now().UTC().Format("2006-01-02"),
		Chunks: 64, Bytes: 64 << 20}
	in := transfer.Intent{ID: fmt.Sprintf("intent-%d", i), Entry: e}
	for k := range 64 {
		in.Objects = append(in.Objects, transfer.Object{Key: fmt.Sprintf("data/%s/chunks/%060x%04x", e.Dataset, i, k), Bytes: 1 << 20})
	}
	conf := e
	conf.Intent, conf.ChunksSent, conf.BytesSent = in.ID, 64, 64<<20
	var out []audit.Record
	for _, r := range []struct {
		kind string
		v    any
	}{{transfer.KindIntent, in}, {transfer.KindTransfer, conf}} {
		rec, err := audit.NewRecord(r.kind, "", r.v)
		if err != nil {
			b.Fatal(err)
		}
		rec.Tenant = "t1"
		out = append(out, rec)
	}
	return out
}
