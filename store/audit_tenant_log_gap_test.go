package store

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"meridian.dev/meridian/audit"
)

// TestAuditTenantLogReadFindsDeletion: whoever writes the database without
// the audit key deletes one of a tenant's records (its oldest, which is
// its run's first, or its newest) or an entry after it. The tenant's
// pages of its log (every kind), of one run's log, and its read up to a
// seq (which entries of a page of the whole chain are its own) showed the
// log without it, without a word. Each must fail with ErrAuditGap, as a
// tenant's read of one kind does; an intact log, or one missing an entry
// only after the seq read up to, reads as it was.
func TestAuditTenantLogReadFindsDeletion(t *testing.T) {
	// Entries: 1 state, 2 transfer (acme, run r1), 3 state, 4 state
	// (acme, run r1), 5 transfer (zeta), 6 state.
	type entry struct{ tenant, kind, run string }
	log := []entry{{"", audit.KindState, ""}, {"acme", audit.KindTransfer, "r1"}, {"", audit.KindState, ""},
		{"acme", audit.KindState, "r1"}, {"zeta", audit.KindTransfer, ""}, {"", audit.KindState, ""}}
	reads := []struct {
		name    string
		q       AuditQuery
		passDel int64  // a deleted entry this read does not cover
		all     string // what it reads with AllUntenanted
	}{
		{"every kind", AuditQuery{Tenant: "acme"}, 0, "[1 2 3 4 6]"},
		{"a run's log", AuditQuery{Tenant: "acme", RunID: "r1"}, 0, "[2 4]"},
		{"up to its newest", AuditQuery{Tenant: "acme", Through: 4}, 5, "[1 2 3 4]"},
		{"up to past the log's end", AuditQuery{Tenant: "acme", Through: 100}, 0, "[1 2 3 4 6]"},
	}
	for _, open := range gapStores {
		for _, tc := range []struct {
			name string
			del  int64
		}{
			{"intact", 0},
			{"the tenant's oldest deleted", 2},
			{"the tenant's newest deleted", 4},
			{"an entry after the tenant's newest deleted", 5},
		} {
			t.Run(open.name+"/"+tc.name, func(t *testing.T) {
				ctx := context.Background()
				s, exec := open.open(t)
				for i, e := range log {
					if err := s.AppendAudit(ctx, tenantRec(t, e.tenant, e.kind, e.run, map[string]int{"n": i + 1})); err != nil {
						t.Fatal(err)
					}
				}
				if tc.del > 0 {
					if err := exec(fmt.Sprintf(`DELETE FROM audit WHERE seq = %d`, tc.del)); err != nil {
						t.Fatal(err)
					}
				}
				for _, rd := range reads {
					fails := tc.del > 0 && tc.del != rd.passDel
					for _, un := range []Untenanted{NoUntenanted, UntenantedOfRuns, AllUntenanted} {
						for _, limit := range []int{0, 1} {
							q := rd.q
							want := "[2 4]"
							if un == AllUntenanted {
								want = rd.all
							}
							q.Untenanted, q.Limit = un, limit
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
								if fails {
									if !errors.Is(r.err, ErrAuditGap) {
										t.Errorf("%s: %s, untenanted %d, limit %d: read %v, %v; want ErrAuditGap", rd.name, r.how, un, limit, r.seqs, r.err)
									}
									continue
								}
								if r.err != nil || fmt.Sprint(r.seqs) != want {
									t.Errorf("%s: %s, untenanted %d, limit %d: read %v, %v; want %s", rd.name, r.how, un, limit, r.seqs, r.err, want)
								}
							}
						}
					}
				}
			})
		}
	}
}

// BenchmarkAuditSelectTenantLog: a tenant's pages of its log (every kind,
// one entry in 2 the tenant's) on a log of 100,000 entries, as GET
// /v1/audit reads them (a page of 1,000), from the log's start and from
// near its end, and the read of which of a page of the whole chain are
// its own (up to a seq).
func BenchmarkAuditSelectTenantLog(b *testing.B) {
	const n = 100000
	for _, open := range gapStores {
		b.Run(open.name, func(b *testing.B) {
			ctx := context.Background()
			s, _ := open.open(b)
			for i := 0; i < n; i += 1000 {
				var recs []audit.Record
				for j := i + 1; j <= i+1000; j++ {
					tenant := "other"
					if j%2 == 0 {
						tenant = "acme"
					}
					recs = append(recs, tenantRec(b, tenant, audit.KindState, fmt.Sprintf("r%d", j%7), map[string]int{"n": j}))
				}
				if err := s.AppendAudit(ctx, recs...); err != nil {
					b.Fatal(err)
				}
			}
			if res, err := s.VerifyAudit(ctx); err != nil || !res.OK {
				b.Fatalf("verify: %+v %v", res, err)
			}
			for _, c := range []struct {
				name string
				q    AuditQuery
				want int
			}{
				{"a page from the start", AuditQuery{Tenant: "acme", Untenanted: UntenantedOfRuns, Limit: 1000}, 1000},
				{"a page from near the end", AuditQuery{Tenant: "acme", Untenanted: UntenantedOfRuns, After: n - 1000, Limit: 1000}, 500},
				{"up to a seq", AuditQuery{Tenant: "acme", Untenanted: UntenantedOfRuns, After: n / 2, Through: n/2 + 1000, Limit: 1000}, 500},
			} {
				b.Run(c.name, func(b *testing.B) {
					for range b.N {
						es, _, err := s.AuditSelectPage(ctx, c.q)
						if err != nil || len(es) != c.want {
							b.Fatalf("%d entries, %v; want %d", len(es), err, c.want)
						}
					}
				})
			}
		})
	}
}
