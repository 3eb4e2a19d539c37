package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
)

// TestAuditNewestOfKindFindsRewrite: a server has read its kind's records
// up to the log's end (entry 6); three more are appended (7, 8 and 9, 8
// the kind's newest), and whoever writes the database without the audit
// key, before any lookup reads them, rewrites entry 8 so that the lookup
// of the kind after 6 passes it by: its kind changed in place, or it is
// deleted and another row written at its seq (a copy of entry 7 there).
// No entry is missing, so the count of the seqs is as it was, and the
// reader took entry 4 as the newest; the lookup must fail instead, with
// ErrAuditRewritten, which callers take as ErrAuditGap. A verification at
// start that found the log whole lets the lookups read only what was
// appended since, and finds the rewrite alike.
func TestAuditNewestOfKindFindsRewrite(t *testing.T) {
	const kind = "rules-revision"
	cols := "seq, time, kind, run_id, payload, prev_hash, hash, tenant, version"
	tests := []struct {
		name string
		sql  []string
	}{
		{"kind rewritten", []string{`UPDATE audit SET kind = '` + audit.KindState + `' WHERE seq = 8`}},
		{"deleted and replaced", []string{`DELETE FROM audit WHERE seq = 8`,
			`INSERT INTO audit (` + cols + `) SELECT 8, time, kind, run_id, payload, prev_hash, hash, tenant, version FROM audit WHERE seq = 7`}},
		{"deleted and replaced, linked", []string{`DELETE FROM audit WHERE seq = 8`,
			`INSERT INTO audit (` + cols + `) SELECT 8, time, '` + audit.KindState + `', run_id, payload, hash, hash, tenant, version FROM audit WHERE seq = 7`}},
	}
	for _, open := range gapStores {
		for _, verified := range []bool{false, true} {
			for _, tc := range tests {
				name := open.name + "/" + tc.name
				if verified {
					name += "/verified at start"
				}
				t.Run(name, func(t *testing.T) {
					ctx := context.Background()
					s, exec := open.open(t)
					appendKinds(t, s, audit.KindState, kind, audit.KindState, kind, audit.KindState, audit.KindState)
					if verified {
						if res, err := s.VerifyAudit(ctx); err != nil || !res.OK {
							t.Fatalf("verify: %+v %v", res, err)
						}
					}
					if n, err := newestOf(ctx, s, kind, 0); err != nil || n != 4 {
						t.Fatalf("intact log: newest %d, %v; want 4", n, err)
					}
					for i, k := range []string{audit.KindState, kind, audit.KindState} {
						if err := s.AppendAudit(ctx, rec(t, k, "", map[string]int{"n": 7 + i})); err != nil {
							t.Fatal(err)
						}
					}
					for _, q := range tc.sql {
						if err := exec(q); err != nil {
							t.Fatalf("%s: %v", q, err)
						}
					}
					for _, after := range []int64{6, 0} {
						n, err := newestOf(ctx, s, kind, after)
						if !errors.Is(err, ErrAuditRewritten) || !errors.Is(err, ErrAuditGap) {
							t.Fatalf("after %d: newest %d, %v; want ErrAuditRewritten", after, n, err)
						}
					}
				})
			}
		}
	}
}

// TestAuditGapCheckHonoursAcceptedModification: an entry modified, the
// break accepted by the operator at start (an acceptance written to the
// log, as serve --accept-broken-audit writes it, after a verification that
// failed): the lookups of a kind pass, the break being accepted, while
// another entry modified after the acceptance fails them.
func TestAuditGapCheckHonoursAcceptedModification(t *testing.T) {
	const kind = "rules-revision"
	for _, open := range gapStores {
		t.Run(open.name, func(t *testing.T) {
			ctx := context.Background()
			s, exec := open.open(t)
			appendKinds(t, s, audit.KindState, kind, audit.KindState, kind, audit.KindState, audit.KindState)
			if err := exec(`UPDATE audit SET payload = '{"n":100}' WHERE seq = 3`); err != nil {
				t.Fatal(err)
			}
			res, err := s.VerifyAudit(ctx)
			if err != nil || res.OK || res.Problem == nil || res.Problem.Seq != 3 {
				t.Fatalf("modified at 3: %+v %v", res, err)
			}
			if _, err := newestOf(ctx, s, kind, 0); !errors.Is(err, ErrAuditRewritten) {
				t.Fatalf("modified at 3, not accepted: %v; want ErrAuditRewritten", err)
			}
			r, err := audit.NewRecord(audit.KindBrokenAccepted, "", audit.BrokenAccepted{Problem: res.Problem})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.AppendAudit(ctx, r, rec(t, kind, "", 8)); err != nil {
				t.Fatal(err)
			}
			for _, after := range []int64{0, 4} {
				if n, err := newestOf(ctx, s, kind, after); err != nil || n != 8 {
					t.Fatalf("accepted, after %d: newest %d, %v; want 8", after, n, err)
				}
			}
			if err := s.AppendAudit(ctx, rec(t, audit.KindState, "", 9), rec(t, kind, "", 10)); err != nil {
				t.Fatal(err)
			}
			if err := exec(`UPDATE audit SET kind = '` + audit.KindState + `' WHERE seq = 10`); err != nil {
				t.Fatal(err)
			}
			if n, err := newestOf(ctx, s, kind, 8); !errors.Is(err, ErrAuditRewritten) {
				t.Fatalf("entry 10 rewritten after the acceptance: newest %d, %v; want ErrAuditRewritten", n, err)
			}
		})
	}
}

// BenchmarkAuditGapNewEntries: a server's lookup of a kind after n
// entries were appended since its last, from where the last ended (on a
// log of 10,000 entries verified at start): the gap check reads and
// checks the new entries once, not the log before them. ns/new-entry is
// the lookup's time over n.
func BenchmarkAuditGapNewEntries(b *testing.B) {
	const kind = "rules-revision"
	for _, open := range gapStores {
		for _, n := range []int{1, 100, 10000} {
			b.Run(fmt.Sprintf("%s/%d", open.name, n), func(b *testing.B) {
				ctx := context.Background()
				s, _ := open.open(b)
				fillLog(b, s, 10000, func(j int) bool { return j == 10 }, kind)
				if res, err := s.VerifyAudit(ctx); err != nil || !res.OK {
					b.Fatalf("verify: %+v %v", res, err)
				}
				q := AuditQuery{Kinds: []string{kind}, AllTenants: true, Limit: 64, MaxBytes: 1 << 20}
				var took time.Duration
				for range b.N {
					b.StopTimer()
					last, _, err := s.AuditHead(ctx)
					if err != nil {
						b.Fatal(err)
					}
					q.After = last
					for i := 0; i < n; i += 1000 {
						var recs []audit.Record
						for j := i; j < min(n, i+1000); j++ {
							recs = append(recs, rec(b, audit.KindState, "r1", map[string]int{"n": j}))
						}
						if err := s.AppendAudit(ctx, recs...); err != nil {
							b.Fatal(err)
						}
					}
					b.StartTimer()
					start := time.Now()
					if page, next, err := s.AuditSelectPage(ctx, q); err != nil || next != 0 || len(page) != 0 {
						b.Fatalf("%d entries, next %d: %v", len(page), next, err)
					}
					took += time.Since(start)
				}
				b.ReportMetric(float64(took.Nanoseconds())/float64(b.N)/float64(n), "ns/new-entry")
			})
		}
	}
}

// TestAuditGapCheckRefusesLargeEntry: an entry after the watermark longer
// than any Meridian writes (its payload grown past 16 MiB by hand) is not
// read to check its seal, and fails the lookup rather than pass it by.
func TestAuditGapCheckRefusesLargeEntry(t *testing.T) {
	const kind = "rules-revision"
	for _, open := range gapStores {
		t.Run(open.name, func(t *testing.T) {
			ctx := context.Background()
			s, exec := open.open(t)
			appendKinds(t, s, audit.KindState, kind, audit.KindState)
			if n, err := newestOf(ctx, s, kind, 0); err != nil || n != 2 {
				t.Fatalf("intact log: newest %d, %v; want 2", n, err)
			}
			appendKinds(t, s, audit.KindState, audit.KindState)
			grow := `UPDATE audit SET payload = payload || printf('%*s', 17000000, '') WHERE seq = 4`
			if open.name == "Postgres" {
				grow = `UPDATE audit SET payload = payload || repeat(' ', 17000000) WHERE seq = 4`
			}
			if err := exec(grow); err != nil {
				t.Fatal(err)
			}
			if n, err := newestOf(ctx, s, kind, 2); !errors.Is(err, ErrAuditRewritten) || !errors.Is(err, ErrAuditEntryTooLarge) {
				t.Fatalf("entry 4 of 17 MB: newest %d, %v; want ErrAuditRewritten", n, err)
			}
		})
	}
}

// TestAuditGapCheckCountOnly: a store opened as a CLI command opens it
// (Options.GapChecksCountOnly) still refuses a lookup over a log that an
// entry was deleted from, and its checks do not read the entries after
// the watermark (which stays at the log's start): the whole log read at
// a command's one lookup of a kind cost it about 9 µs an entry.
func TestAuditGapCheckCountOnly(t *testing.T) {
	const kind = "rules-revision"
	for _, countOnly := range []bool{false, true} {
		t.Run(fmt.Sprint("countOnly=", countOnly), func(t *testing.T) {
			ctx := context.Background()
			s, err := OpenSQLite(ctx, t.TempDir()+"/m.db", Options{AuditKey: []byte("test key 0123456"), GapChecksCountOnly: countOnly})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			appendKinds(t, s, audit.KindState, kind, audit.KindState, kind, audit.KindState, audit.KindState)
			if n, err := newestOf(ctx, s, kind, 0); err != nil || n != 4 {
				t.Fatalf("intact log: newest %d, %v; want 4", n, err)
			}
			s.sealed.mu.Lock()
			read := s.sealed.seq
			s.sealed.mu.Unlock()
			if want := map[bool]int64{false: 6, true: 0}[countOnly]; read != want {
				t.Fatalf("the check read the log through entry %d; want %d", read, want)
			}
			if _, err := s.DB().Exec(`DELETE FROM audit WHERE seq = 4`); err != nil {
				t.Fatal(err)
			}
			if n, err := newestOf(ctx, s, kind, 0); !errors.Is(err, ErrAuditGap) {
				t.Fatalf("entry 4 deleted: newest %d, %v; want ErrAuditGap", n, err)
			}
		})
	}
}
