package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/internal/pgtest"
)

// gapStores are the stores the gap tests run on, each with a way to run
// SQL on its database as whoever can write it.
var gapStores = []struct {
	name string
	open func(t testing.TB) (Store, func(q string) error)
}{
	{"SQLite", func(t testing.TB) (Store, func(q string) error) {
		s := openTest(t)
		return s, func(q string) error { _, err := s.DB().Exec(q); return err }
	}},
	{"Postgres", func(t testing.TB) (Store, func(q string) error) {
		ctx := context.Background()
		s, err := OpenPostgres(ctx, pgtest.NewDatabase(t), Options{AuditKey: []byte("test key 0123456")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s, func(q string) error { _, err := s.pool.Exec(ctx, q); return err }
	}},
}

// newestOf reads the records of kind after seq after a page of one at a
// time, as the witnesses read theirs, and returns the newest one's seq.
func newestOf(ctx context.Context, s Store, kind string, after int64) (int64, error) {
	return newestIn(ctx, s, AuditQuery{Kinds: []string{kind}, AllTenants: true, After: after, Limit: 1})
}

// newestIn reads the records q selects, a page at a time from q.After,
// and returns the newest one's seq.
func newestIn(ctx context.Context, s Store, q AuditQuery) (int64, error) {
	newest := int64(0)
	for {
		page, next, err := s.AuditSelectPage(ctx, q)
		if err != nil {
			return 0, err
		}
		for _, e := range page {
			newest = e.Seq
		}
		if next == 0 {
			return newest, nil
		}
		q.After = next
	}
}

// TestAuditNewestOfKindFindsDeletion: whoever writes the database without
// the audit key deletes the newest record of a kind (here entry 4) from
// the middle of the log. Each record left is sealed, and a reader of that
// kind that had not read entry 4 took entry 2 as the newest: the lookup
// must fail instead, whether the later entries are left where they were,
// moved down to close the gap, or the gap filled with a copy of another
// entry in a table rebuilt without its primary key. An entry cut from the
// log's end is the anchor's to find, and a gap the operator accepted
// does not fail the lookup, while one more entry deleted beside it does.
func TestAuditNewestOfKindFindsDeletion(t *testing.T) {
	const kind = "rules-revision"
	rebuild := []string{
		`CREATE TABLE audit_copy AS SELECT * FROM audit`,
		`DROP TABLE audit`,
		`ALTER TABLE audit_copy RENAME TO audit`,
	}
	tests := []struct {
		name  string
		sql   []string
		after []int64 // lookups from these seqs
		fails bool
	}{
		{"intact", nil, []int64{0, 2, 4}, false},
		{"deleted", []string{`DELETE FROM audit WHERE seq = 4`}, []int64{0, 2, 3}, true},
		// Moved down one at a time, in order: each seq is free when its
		// entry takes it.
		{"deleted and moved down", []string{`DELETE FROM audit WHERE seq = 4`,
			`UPDATE audit SET seq = 4 WHERE seq = 5`, `UPDATE audit SET seq = 5 WHERE seq = 6`}, []int64{0, 2}, true},
		{"deleted and moved down but the last", []string{`DELETE FROM audit WHERE seq = 4`,
			`UPDATE audit SET seq = 4 WHERE seq = 5`}, []int64{0, 2}, true},
		{"deleted and a copy added", append(rebuild, `DELETE FROM audit WHERE seq = 4`,
			`INSERT INTO audit SELECT * FROM audit WHERE seq = 5`), []int64{0, 2}, true},
		{"cut from the end", []string{`DELETE FROM audit WHERE seq = 6`}, []int64{0, 2, 4}, false},
	}
	for _, open := range gapStores {
		for _, tc := range tests {
			t.Run(open.name+"/"+tc.name, func(t *testing.T) {
				ctx := context.Background()
				s, exec := open.open(t)
				appendKinds(t, s, audit.KindState, kind, audit.KindState, kind, audit.KindState, audit.KindState)
				if n, err := newestOf(ctx, s, kind, 0); err != nil || n != 4 {
					t.Fatalf("intact log: newest %d, %v; want 4", n, err)
				}
				for _, q := range tc.sql {
					if err := exec(q); err != nil {
						t.Fatalf("%s: %v", q, err)
					}
				}
				for _, after := range tc.after {
					n, err := newestOf(ctx, s, kind, after)
					if !tc.fails {
						if err != nil || after < 4 && n != 4 {
							t.Fatalf("after %d: newest %d, %v; want 4", after, n, err)
						}
						continue
					}
					if !errors.Is(err, ErrAuditGap) {
						t.Fatalf("after %d: newest %d, %v; want ErrAuditGap", after, n, err)
					}
				}
				// A tenant's page of a kind is checked alike, and so is its
				// page of every kind.
				if _, _, err := s.AuditSelectPage(ctx, AuditQuery{Tenant: "a", Kinds: []string{kind}}); tc.fails != errors.Is(err, ErrAuditGap) || !tc.fails && err != nil {
					t.Fatalf("a tenant's page of a kind: %v; want ErrAuditGap %v", err, tc.fails)
				}
				if _, _, err := s.AuditSelectPage(ctx, AuditQuery{Tenant: "a"}); tc.fails != errors.Is(err, ErrAuditGap) || !tc.fails && err != nil {
					t.Fatalf("a tenant's page: %v; want ErrAuditGap %v", err, tc.fails)
				}
			})
		}
		t.Run(open.name+"/accepted gap", func(t *testing.T) {
			ctx := context.Background()
			s, exec := open.open(t)
			appendKinds(t, s, audit.KindState, kind, audit.KindState, kind, audit.KindState, audit.KindState)
			if err := exec(`DELETE FROM audit WHERE seq = 3`); err != nil {
				t.Fatal(err)
			}
			res, err := s.VerifyAudit(ctx)
			if err != nil || res.OK || res.Problem == nil {
				t.Fatalf("gap at 3: %+v %v", res, err)
			}
			if _, err := newestOf(ctx, s, kind, 0); !errors.Is(err, ErrAuditGap) {
				t.Fatalf("gap at 3, not accepted: %v; want ErrAuditGap", err)
			}
			// The operator accepts it (twice: counted once).
			for range 2 {
				r, err := audit.NewRecord(audit.KindBrokenAccepted, "", audit.BrokenAccepted{Problem: res.Problem})
				if err != nil {
					t.Fatal(err)
				}
				if err := s.AppendAudit(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			if res, err := s.VerifyAudit(ctx); err != nil || !res.OK {
				t.Fatalf("accepted: %+v %v", res, err)
			}
			for _, after := range []int64{0, 2} {
				if n, err := newestOf(ctx, s, kind, after); err != nil || n != 4 {
					t.Fatalf("accepted gap, after %d: newest %d, %v; want 4", after, n, err)
				}
			}
			// Another entry deleted beside the accepted gap is not
			// accepted.
			if err := exec(`DELETE FROM audit WHERE seq = 4`); err != nil {
				t.Fatal(err)
			}
			if n, err := newestOf(ctx, s, kind, 0); !errors.Is(err, ErrAuditGap) {
				t.Fatalf("accepted gap at 3 and entry 4 deleted: newest %d, %v; want ErrAuditGap", n, err)
			}
		})
		t.Run(open.name+"/unsealed acceptance", func(t *testing.T) {
			ctx := context.Background()
			s, exec := open.open(t)
			appendKinds(t, s, audit.KindState, kind, audit.KindState, kind, audit.KindState, audit.KindState)
			if err := exec(`DELETE FROM audit WHERE seq = 4`); err != nil {
				t.Fatal(err)
			}
			p := audit.Problem{Seq: 4, Kind: audit.Deleted, Found: &audit.Found{Last: 4}}
			r, err := audit.NewRecord(audit.KindBrokenAccepted, "", audit.BrokenAccepted{Problem: &p})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.AppendAudit(ctx, r, rec(t, audit.KindState, "", 8)); err != nil {
				t.Fatal(err)
			}
			// Written by hand: its hash no longer covers what it says.
			if err := exec(`UPDATE audit SET payload = payload || ' ' WHERE seq = 7`); err != nil {
				t.Fatal(err)
			}
			if n, err := newestOf(ctx, s, kind, 0); !errors.Is(err, ErrAuditGap) {
				t.Fatalf("gap at 4 accepted by an unsealed entry: newest %d, %v; want ErrAuditGap", n, err)
			}
		})
	}
}

// appendKinds appends one entry of each kind, in order, from seq 1.
func appendKinds(t testing.TB, s Store, kinds ...string) {
	t.Helper()
	for i, k := range kinds {
		if err := s.AppendAudit(context.Background(), rec(t, k, "", map[string]int{"n": i + 1})); err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkAuditNewestOfKind: the last page of a server's lookup of a
// kind's records on a log of 100,000 entries, the kind's newest record
// at its start (the whole log counted after it) and near its end, and the
// first page of one run's records, the run's first near the log's end.
func BenchmarkAuditNewestOfKind(b *testing.B) {
	const n = 100000
	const kind = "rules-revision"
	for _, open := range gapStores {
		b.Run(open.name, func(b *testing.B) {
			ctx := context.Background()
			s, _ := open.open(b)
			fillLog(b, s, n, func(j int) bool { return j == 10 || j == n-10 }, kind)
			// The record at n-10 is run r2's (n-10 mod 7), the only one
			// of its kind for that run: a run's first page counts from
			// it, not from the log's start.
			for _, from := range []struct {
				name  string
				run   string
				after int64
				want  int64
			}{{"from start", "", 0, n - 10}, {"from newest", "", n - 10, 0}, {"a run's first page", "r2", 0, n - 10}} {
				b.Run(from.name, func(b *testing.B) {
					q := AuditQuery{RunID: from.run, Kinds: []string{kind}, AllTenants: true, After: from.after, Limit: 64, MaxBytes: 1 << 20}
					for range b.N {
						page, next, err := s.AuditSelectPage(ctx, q)
						if err != nil || next != 0 || len(page) > 0 && page[len(page)-1].Seq != from.want {
							b.Fatalf("%d entries, next %d: %v", len(page), next, err)
						}
					}
				})
			}
		})
	}
}

// newestOfRun is newestOf for the decision records of one run, read a
// page of one at a time as the placement witness reads them.
func newestOfRun(ctx context.Context, s Store, runID string) (int64, error) {
	return newestIn(ctx, s, AuditQuery{RunID: runID, Kinds: []string{audit.KindDecision}, AllTenants: true, Limit: 1})
}

// TestAuditRunRecordsCountedFromTheirFirst: a lookup of one run's records
// finds its newest record deleted from the middle of the log, on its first
// page or a later one, but counts the log from the run's first record
// only: a run's first confirmation does not count the whole log. An entry
// missing before the run began, which the walk of the entries after the
// watermark meets (or the rolling re-check, below it), refuses the run's
// lookup too, as it refuses every lookup: the run's records after it may
// be another history's.
func TestAuditRunRecordsCountedFromTheirFirst(t *testing.T) {
	// Entries: 1 o, 2 o, 3 r (decision), 4 o, 5 r (decision), 6 o.
	layout := []string{"o", "o", "r", "o", "r", "o"}
	for _, open := range gapStores {
		t.Run(open.name, func(t *testing.T) {
			for _, tc := range []struct {
				name    string
				del     int
				want    int64 // newest decision of r; 0: ErrAuditGap
				kindGap bool  // whether a lookup of the kind from 0 fails
			}{
				{"intact", 0, 5, false},
				{"the run's newest deleted", 5, 0, true},
				{"an entry between its records deleted", 4, 0, true},
				{"an entry before the run deleted", 1, 0, true},
			} {
				t.Run(tc.name, func(t *testing.T) {
					ctx := context.Background()
					s, exec := open.open(t)
					for i, who := range layout {
						kind := audit.KindState
						if who == "r" {
							kind = audit.KindDecision
						}
						if err := s.AppendAudit(ctx, rec(t, kind, who, map[string]int{"n": i + 1})); err != nil {
							t.Fatal(err)
						}
					}
					if tc.del > 0 {
						if err := exec(fmt.Sprintf(`DELETE FROM audit WHERE seq = %d`, tc.del)); err != nil {
							t.Fatal(err)
						}
					}
					n, err := newestOfRun(ctx, s, "r")
					switch {
					case tc.want == 0 && !errors.Is(err, ErrAuditGap):
						t.Fatalf("run r: newest %d, %v; want ErrAuditGap", n, err)
					case tc.want != 0 && (err != nil || n != tc.want):
						t.Fatalf("run r: newest %d, %v; want %d", n, err, tc.want)
					}
					// A run with no records reads none, and is not
					// counted.
					if n, err := newestOfRun(ctx, s, "none"); err != nil || n != 0 {
						t.Fatalf("run without records: %d, %v", n, err)
					}
					if _, err := newestOf(ctx, s, audit.KindDecision, 0); errors.Is(err, ErrAuditGap) != tc.kindGap {
						t.Fatalf("the kind's lookup from 0: %v; want a gap found: %v", err, tc.kindGap)
					}
				})
			}
		})
	}
}

// fillLog appends n entries to s, a thousand at a time, entry j of run
// r(j mod 7): of kind when is(j), a state entry otherwise.
func fillLog(b *testing.B, s Store, n int, is func(j int) bool, kind string) {
	b.Helper()
	for i := 0; i < n; i += 1000 {
		var recs []audit.Record
		for j := i + 1; j <= i+1000; j++ {
			k := audit.KindState
			if is(j) {
				k = kind
			}
			recs = append(recs, rec(b, k, fmt.Sprintf("r%d", j%7), map[string]int{"n": j}))
		}
		if err := s.AppendAudit(context.Background(), recs...); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuditGapLargeLastEntry: a server's read of a kind that ends at
// the log's end, the last entry holding 4 MiB (a plan record of a large
// catalog, say): the gap check reads and hashes the last entry once for
// its seq and hash, not at each read.
func BenchmarkAuditGapLargeLastEntry(b *testing.B) {
	ctx := context.Background()
	s := openTest(b)
	fillLog(b, s, 1000, func(j int) bool { return j == 990 }, "rules-revision")
	if err := s.AppendAudit(ctx, rec(b, audit.KindState, "", map[string]string{"pad": strings.Repeat("x", 4<<20)})); err != nil {
		b.Fatal(err)
	}
	q := AuditQuery{Kinds: []string{"rules-revision"}, AllTenants: true, After: 980, Limit: 64, MaxBytes: 1 << 20}
	for range b.N {
		if page, _, err := s.AuditSelectPage(ctx, q); err != nil || len(page) != 1 {
			b.Fatalf("%d entries: %v", len(page), err)
		}
	}
}
