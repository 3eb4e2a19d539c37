package store

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"meridian.dev/meridian/audit"
)

// tenantRec is rec with the entry's tenant.
func tenantRec(t testing.TB, tenant, kind, run string, v any) audit.Record {
	r := rec(t, kind, run, v)
	r.Tenant = tenant
	return r
}

// TestAuditTenantReadFindsDeletion: whoever writes the database without
// the audit key deletes a tenant's transfer record (its newest, its
// oldest) or an entry after it: the tenant's own reads of its records of
// a kind (its ledger's totals, a dataset's ledger page), read whole, a
// page at a time or as pages of its log, left it out without a word. Each
// must fail with ErrAuditGap, as the server's read does; an intact log
// reads as it was.
func TestAuditTenantReadFindsDeletion(t *testing.T) {
	// Entries: 1 state, 2 transfer (acme), 3 state, 4 transfer (acme),
	// 5 transfer (zeta), 6 state.
	type entry struct{ tenant, kind string }
	log := []entry{{"", audit.KindState}, {"acme", audit.KindTransfer}, {"", audit.KindState},
		{"acme", audit.KindTransfer}, {"zeta", audit.KindTransfer}, {"", audit.KindState}}
	for _, open := range gapStores {
		for _, tc := range []struct {
			name  string
			del   int64
			fails bool
		}{
			{"intact", 0, false},
			{"the tenant's oldest deleted", 2, true},
			{"the tenant's newest deleted", 4, true},
			{"an entry after the tenant's newest deleted", 5, true},
		} {
			t.Run(open.name+"/"+tc.name, func(t *testing.T) {
				ctx := context.Background()
				s, exec := open.open(t)
				for i, e := range log {
					if err := s.AppendAudit(ctx, tenantRec(t, e.tenant, e.kind, "", map[string]int{"n": i + 1})); err != nil {
						t.Fatal(err)
					}
				}
				if tc.del > 0 {
					if err := exec(fmt.Sprintf(`DELETE FROM audit WHERE seq = %d`, tc.del)); err != nil {
						t.Fatal(err)
					}
				}
				for _, un := range []Untenanted{NoUntenanted, UntenantedOfRuns, AllUntenanted} {
					for _, limit := range []int{0, 1} {
						q := AuditQuery{Tenant: "acme", Untenanted: un, Kinds: []string{audit.KindTransfer}, Limit: limit}
						var whole, paged []int64
						var werr, perr error
						for qq := q; ; {
							es, err := s.AuditSelect(ctx, qq)
							if werr = err; err != nil {
								break
							}
							for _, e := range es {
								whole = append(whole, e.Seq)
							}
							if qq.After = qq.Next(es); qq.After == 0 {
								break
							}
						}
						for qq := q; ; {
							es, next, err := s.AuditSelectPage(ctx, qq)
							if perr = err; err != nil {
								break
							}
							for _, e := range es {
								paged = append(paged, e.Seq)
							}
							if qq.After = next; next == 0 {
								break
							}
						}
						for _, r := range []struct {
							how  string
							seqs []int64
							err  error
						}{{"AuditSelect", whole, werr}, {"AuditSelectPage", paged, perr}} {
							if tc.fails {
								if !errors.Is(r.err, ErrAuditGap) {
									t.Errorf("%s, untenanted %d, limit %d: read %v, %v; want ErrAuditGap", r.how, un, limit, r.seqs, r.err)
								}
								continue
							}
							if r.err != nil || fmt.Sprint(r.seqs) != "[2 4]" {
								t.Errorf("%s, untenanted %d, limit %d: read %v, %v; want [2 4]", r.how, un, limit, r.seqs, r.err)
							}
						}
					}
				}
			})
		}
	}
}

// BenchmarkAuditSelectTenant: a tenant's read of its transfer records (one
// entry in 100 of a log of 100,000 entries, the tenant's every other one)
// as its ledger reads them: whole from the log's start, from near its end,
// and a page of 50 from the start, as a dataset's ledger is listed.
func BenchmarkAuditSelectTenant(b *testing.B) {
	const n = 100000
	for _, open := range gapStores {
		b.Run(open.name, func(b *testing.B) {
			ctx := context.Background()
			s, _ := open.open(b)
			for i := 0; i < n; i += 1000 {
				var recs []audit.Record
				for j := i + 1; j <= i+1000; j++ {
					k, tenant := audit.KindState, "other"
					if j%100 == 0 {
						k = audit.KindTransfer
						if j%200 == 0 {
							tenant = "acme"
						}
					}
					recs = append(recs, tenantRec(b, tenant, k, fmt.Sprintf("r%d", j%7), map[string]int{"n": j}))
				}
				if err := s.AppendAudit(ctx, recs...); err != nil {
					b.Fatal(err)
				}
			}
			if res, err := s.VerifyAudit(ctx); err != nil || !res.OK {
				b.Fatalf("verify: %+v %v", res, err)
			}
			for _, from := range []struct {
				name  string
				after int64
				limit int
				want  int
			}{{"whole", 0, 0, n / 200}, {"from near the end", n - 1000, 0, 5}, {"a page of 50", 0, 50, 50}} {
				b.Run(from.name, func(b *testing.B) {
					q := AuditQuery{Tenant: "acme", Kinds: []string{audit.KindTransfer}, After: from.after, Limit: from.limit}
					for range b.N {
						es, err := s.AuditSelect(ctx, q)
						if err != nil || len(es) != from.want {
							b.Fatalf("%d entries, %v; want %d", len(es), err, from.want)
						}
					}
				})
			}
		})
	}
}
