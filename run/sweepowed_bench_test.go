package run

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/internal/testplan"
)

// BenchmarkSweepOwedScan is the loop's read of the log for runs owed a
// sweep (sweepOwedRead), from the log's start to its end as at the start
// of a term, over 10,000 ended runs, each with a placement and a move
// (decision records, with a kilobyte of findings each), three state
// records and, in "swept", a record of the left site's sweep; in "owed",
// none, and each run is handed to the sweep. ticks/op is how many of the
// loop's ticks the read takes.
func BenchmarkSweepOwedScan(b *testing.B) {
	for _, swept := range []bool{true, false} {
		name := "owed"
		if swept {
			name = "swept"
		}
		b.Run(name, func(b *testing.B) {
			const runs = 10000
			ctx := context.Background()
			st, dir := testStore(b)
			findings := strings.Repeat("x", 1000)
			for i := 0; i < runs; i += 500 {
				var recs []audit.Record
				add := func(kind, id string, p any) {
					r, err := audit.NewRecord(kind, id, p)
					if err != nil {
						b.Fatal(err)
					}
					r.Tenant = "t1"
					recs = append(recs, r)
				}
				for j := i; j < i+500; j++ {
					id := fmt.Sprintf("run-%06d", j)
					add(audit.KindDecision, id, map[string]any{"placement": placeOf{Site: "bravo", Accelerator: "h100", Count: 1}, "findings": findings})
					add(audit.KindState, id, map[string]any{"to": "queued", "reason": "attempt 1 submitted to bravo as j1"})
					add(audit.KindDecision, id, map[string]any{"decision": "move", "placement": placeOf{Site: "alpha", Accelerator: "h100", Count: 1}, "from": "bravo", "findings": findings})
					add(audit.KindState, id, map[string]any{"to": "running"})
					if swept {
						add(KindCheckpointsSwept, id, map[string]any{"site": "bravo"})
					}
					add(audit.KindState, id, map[string]any{"to": "succeeded"})
				}
				if err := st.AppendAudit(ctx, recs...); err != nil {
					b.Fatal(err)
				}
			}
			c := New(Config{Store: st, StateDir: dir, CatalogDir: "testdata/sites", Plan: testplan.Cheapest, AuditChain: audit.NewChain(testAuditKey)})
			b.ReportAllocs()
			ticks := 0
			for b.Loop() {
				c.sweepOwed = owedScan{}
				c.mu.Lock()
				c.sweepWait = nil
				c.mu.Unlock()
				for n := 1; ; n++ {
					if c.sweepOwedRead(ctx, false) {
						c.sweepOwed.handOver(c)
						ticks += n
						break
					}
				}
			}
			want := 0
			if !swept {
				want = runs
			}
			if len(c.sweepWait) != want {
				b.Fatalf("%d runs handed to the sweep; want %d", len(c.sweepWait), want)
			}
			b.ReportMetric(float64(ticks)/float64(b.N), "ticks/op")
		})
	}
}
