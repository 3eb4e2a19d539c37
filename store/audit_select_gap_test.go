package store

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"meridian.dev/meridian/audit"
)

// sumOf reads the records of kind (of run, when named) after seq after,
// as the ledgers read theirs, a page of limit at a time (0: all at once),
// and returns their seqs.
func sumOf(ctx context.Context, s Store, kind, run string, after int64, limit int) ([]int64, error) {
	q := AuditQuery{RunID: run, Kinds: []string{kind}, AllTenants: true, After: after, Limit: limit}
	var seqs []int64
	for {
		es, err := s.AuditSelect(ctx, q)
		if err != nil {
			return seqs, err
		}
		for _, e := range es {
			seqs = append(seqs, e.Seq)
		}
		next := q.Next(es)
		if next == 0 {
			return seqs, nil
		}
		q.After = next
	}
}

// TestAuditSelectFindsDeletedTransfer: whoever writes the database without
// the audit key deletes a transfer record: every reader that sums the
// records of that kind with AuditSelect (the crossed-bytes ledger, the
// copies at each site) left its bytes out until the log's next full
// verification. The server's read must fail instead, whether the record
// was the oldest of its kind, one of a run's (its first, which a reader
// of the newest would not need), or an entry after the last record read
// and before the log's end; read whole or a page at a time. An entry cut
// from the log's end is the anchor's to find. A tenant's read of a kind
// is checked the same way.
func TestAuditSelectFindsDeletedTransfer(t *testing.T) {
	// Entries: 1 state, 2 transfer (run r), 3 state, 4 transfer (run r),
	// 5 state, 6 state.
	kinds := []string{audit.KindState, audit.KindTransfer, audit.KindState, audit.KindTransfer, audit.KindState, audit.KindState}
	for _, open := range gapStores {
		for _, tc := range []struct {
			name  string
			del   int64
			fails bool
		}{
			{"intact", 0, false},
			{"the oldest transfer deleted", 2, true},
			{"an entry before the first transfer deleted", 1, true},
			{"the newest transfer deleted", 4, true},
			{"an entry after the last transfer deleted", 5, true},
			{"cut from the end", 6, false},
		} {
			t.Run(open.name+"/"+tc.name, func(t *testing.T) {
				ctx := context.Background()
				s, exec := open.open(t)
				for i, k := range kinds {
					run := ""
					if k == audit.KindTransfer {
						run = "r"
					}
					if err := s.AppendAudit(ctx, rec(t, k, run, map[string]int{"n": i + 1})); err != nil {
						t.Fatal(err)
					}
				}
				if tc.del > 0 {
					if err := exec(fmt.Sprintf(`DELETE FROM audit WHERE seq = %d`, tc.del)); err != nil {
						t.Fatal(err)
					}
				}
				for _, read := range []struct {
					run   string
					limit int
				}{{"", 0}, {"", 1}, {"r", 0}, {"r", 1}} {
					seqs, err := sumOf(ctx, s, audit.KindTransfer, read.run, 0, read.limit)
					if tc.fails {
						if !errors.Is(err, ErrAuditGap) {
							t.Fatalf("run %q, limit %d: read %v, %v; want ErrAuditGap", read.run, read.limit, seqs, err)
						}
						continue
					}
					if err != nil || len(seqs) != 2 || seqs[0] != 2 || seqs[1] != 4 {
						t.Fatalf("run %q, limit %d: read %v, %v; want [2 4]", read.run, read.limit, seqs, err)
					}
				}
				// A read cut at MaxBytes is counted up to its last entry:
				// the next one reads on from there. Its entry is the first
				// transfer: a gap before it fails it, one after it does not.
				es, err := s.AuditSelect(ctx, AuditQuery{Kinds: []string{audit.KindTransfer}, AllTenants: true, MaxBytes: 1})
				if before := tc.del == 1 || tc.del == 2; before {
					if !errors.Is(err, ErrAuditGap) {
						t.Fatalf("read cut at MaxBytes, entry %d deleted: %d entries, %v; want ErrAuditGap", tc.del, len(es), err)
					}
				} else if err != nil || len(es) != 1 {
					t.Fatalf("read cut at MaxBytes, entry %d deleted: %d entries, %v; want 1", tc.del, len(es), err)
				}
				// A tenant's read of a kind is checked alike (from its
				// start, the log's), though none of the tenant's is there.
				if _, err := s.AuditSelect(ctx, AuditQuery{Tenant: "a", Kinds: []string{audit.KindTransfer}}); tc.fails != errors.Is(err, ErrAuditGap) || !tc.fails && err != nil {
					t.Fatalf("a tenant's read: %v; want ErrAuditGap %v", err, tc.fails)
				}
				// Nor is a read up to a seq (Through), nor one of every kind.
				if _, err := s.AuditSelect(ctx, AuditQuery{AllTenants: true, Kinds: []string{audit.KindTransfer}, Through: 6}); err != nil {
					t.Fatalf("a read through 6: %v", err)
				}
				if _, err := s.AuditSelect(ctx, AuditQuery{AllTenants: true}); err != nil {
					t.Fatalf("a read of every kind: %v", err)
				}
			})
		}
	}
}

// BenchmarkAuditSelectSum: a server's read of every transfer record (one
// entry in 100, of 7 runs) on a log of 100,000 entries, as a ledger sums
// them: whole from the log's start, from near its end (a reader catching
// up), and one run's whole. Each counts the log from where it starts.
func BenchmarkAuditSelectSum(b *testing.B) {
	const n = 100000
	for _, open := range gapStores {
		b.Run(open.name, func(b *testing.B) {
			ctx := context.Background()
			s, _ := open.open(b)
			fillLog(b, s, n, func(j int) bool { return j%100 == 0 }, audit.KindTransfer)
			for _, from := range []struct {
				name  string
				run   string
				after int64
				want  int
			}{{"whole", "", 0, n / 100}, {"from near the end", "", n - 1000, 10}, {"a run's whole", "r2", 0, 143}} {
				b.Run(from.name, func(b *testing.B) {
					q := AuditQuery{RunID: from.run, Kinds: []string{audit.KindTransfer}, AllTenants: true, After: from.after}
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
