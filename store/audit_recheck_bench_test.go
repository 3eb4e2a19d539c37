package store

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkAuditGapCheckLongLog: one gap check of a server's lookup of a
// kind with nothing written since its last (after the log's last entry),
// on a log of n entries verified at start: the check counts nothing, and
// re-checks one window of the entries below the watermark (recheck),
// whatever n.
func BenchmarkAuditGapCheckLongLog(b *testing.B) {
	const kind = "rules-revision"
	for _, open := range gapStores {
		for _, n := range []int{1000, 100000} {
			b.Run(fmt.Sprintf("%s/%d", open.name, n), func(b *testing.B) {
				ctx := context.Background()
				s, _ := open.open(b)
				fillLog(b, s, n, func(j int) bool { return j%1000 == 10 }, kind)
				if res, err := s.VerifyAudit(ctx); err != nil || !res.OK {
					b.Fatalf("verify: %+v %v", res, err)
				}
				head, _, err := s.AuditHead(ctx)
				if err != nil {
					b.Fatal(err)
				}
				q := AuditQuery{Kinds: []string{kind}, AllTenants: true, After: head, Limit: 64}
				b.ResetTimer()
				for range b.N {
					if page, _, err := s.AuditSelectPage(ctx, q); err != nil || len(page) != 0 {
						b.Fatalf("%d entries: %v", len(page), err)
					}
				}
			})
		}
	}
}
