package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// blobColumn rewrites col of every row of table as a BLOB of the same
// bytes, as whoever writes the database without the audit key may.
func blobColumn(t *testing.T, s *SQLite, table, col string) {
	t.Helper()
	if _, err := s.DB().Exec(fmt.Sprintf(`UPDATE %s SET %s = CAST(%s AS BLOB)`, table, col, col)); err != nil {
		t.Fatal(err)
	}
}

// TestSQLiteLeaseStoredAsBlob: a live lease's name rewritten as a BLOB was
// no lease to the lookup by text, and a second holder took it anew at
// epoch 1 while the first still held it (the epoch that fences writes
// gone back to one a former holder carried). Each text column so
// rewritten now fails the lease's lookup, naming the table and column,
// and nobody else takes the lease.
func TestSQLiteLeaseStoredAsBlob(t *testing.T) {
	for _, col := range []string{"name", "holder", "expires_at"} {
		t.Run(col, func(t *testing.T) {
			ctx := context.Background()
			s := openTest(t)
			// The lease taken three times: epoch 3, held by a.
			for range 3 {
				if _, err := s.TryLease(ctx, ControllerLease, "a", time.Hour); err != nil {
					t.Fatal(err)
				}
				if _, err := s.DB().Exec(`UPDATE leases SET expires_at = ?`, fmtTime(time.Unix(0, 0))); err != nil {
					t.Fatal(err)
				}
			}
			l, err := s.TryLease(ctx, ControllerLease, "a", time.Hour)
			if err != nil || l.Holder != "a" || l.Epoch != 4 {
				t.Fatalf("a's lease: %+v, %v", l, err)
			}
			blobColumn(t, s, "leases", col)
			got, err := s.TryLease(ctx, ControllerLease, "b", time.Hour)
			wantBlobErr(t, "b's try of the lease", err, "leases", col)
			if err == nil && got.Holder == "b" {
				t.Fatalf("b took a's live lease: %+v", got)
			}
			_, err = s.TryLease(ctx, ControllerLease, "a", time.Hour)
			wantBlobErr(t, "a's renewal of the lease", err, "leases", col)
			var n int
			if err := s.DB().QueryRow(`SELECT COUNT(*) FROM leases`).Scan(&n); err != nil || n != 1 {
				t.Fatalf("lease rows: %d, %v; want the one", n, err)
			}
		})
	}
}

// TestSQLiteHeartbeatStoredAsBlob: an attempt's heartbeat whose run or
// time was rewritten as a BLOB read as never heard (its run) or as it was
// (its time); the read now fails naming the table and column, and a
// heartbeat heard since, written beside a BLOB run as text, does not hide
// it (one heard since over a BLOB time writes the time as text).
func TestSQLiteHeartbeatStoredAsBlob(t *testing.T) {
	for _, col := range []string{"run_id", "at"} {
		t.Run(col, func(t *testing.T) {
			ctx := context.Background()
			s := openTest(t)
			if err := s.Heard(ctx, "r1", 1); err != nil {
				t.Fatal(err)
			}
			blobColumn(t, s, "heartbeats", col)
			_, _, err := s.SilentFor(ctx, "r1", 1)
			wantBlobErr(t, "the attempt's heartbeat", err, "heartbeats", col)
			if err := s.Heard(ctx, "r1", 1); err != nil {
				t.Fatal(err)
			}
			_, ok, err := s.SilentFor(ctx, "r1", 1)
			if col == "run_id" {
				wantBlobErr(t, "the attempt's heartbeat, heard again", err, "heartbeats", col)
			} else if err != nil || !ok {
				// Heard again, the row's time is written as text.
				t.Fatalf("heard again: %v, %v", ok, err)
			}
			// Another attempt's is not this one's.
			if _, ok, err := s.SilentFor(ctx, "r1", 2); err != nil || ok {
				t.Fatalf("attempt 2: %v, %v; want never heard", ok, err)
			}
		})
	}
}

// TestSQLiteRuleRevisionStoredAsBlob: a rules revision or the last law
// check whose text was rewritten as a BLOB was read back as Meridian
// wrote it; the reads now fail naming the table and column.
func TestSQLiteRuleRevisionStoredAsBlob(t *testing.T) {
	for _, col := range []string{"hash", "who", "reason", "created_at", "listing", "files"} {
		t.Run(col, func(t *testing.T) {
			ctx := context.Background()
			s := openTest(t)
			if _, err := s.PutRuleRevision(ctx, &RuleRevision{Hash: "h1", Who: "admin", Reason: "first", Files: map[string]string{"a.rego": "package a"}}, 0,
				rec(t, "rules-revision", "", map[string]int{"rev": 1})); err != nil {
				t.Fatal(err)
			}
			blobColumn(t, s, "rule_revisions", col)
			if col != "files" {
				_, err := s.ListRuleRevisions(ctx, 0, 10)
				wantBlobErr(t, "the revisions' list", err, "rule_revisions", col)
			}
			if col != "listing" {
				_, err := s.GetRuleRevision(ctx, 1)
				wantBlobErr(t, "revision 1", err, "rule_revisions", col)
			}
		})
	}
	for _, col := range []string{"day", "checked_at"} {
		t.Run("law_checks/"+col, func(t *testing.T) {
			ctx := context.Background()
			s := openTest(t)
			if err := s.SetLawCheck(ctx, 1, "2026-01-02", rec(t, "law-check", "", map[string]int{"rev": 1})); err != nil {
				t.Fatal(err)
			}
			if rev, day, err := s.LawCheck(ctx); err != nil || rev != 1 || day != "2026-01-02" {
				t.Fatalf("law check: %d %q %v", rev, day, err)
			}
			blobColumn(t, s, "law_checks", col)
			_, _, err := s.LawCheck(ctx)
			wantBlobErr(t, "the last law check", err, "law_checks", col)
		})
	}
	// Intact rows read back.
	ctx := context.Background()
	s := openTest(t)
	if _, err := s.PutRuleRevision(ctx, &RuleRevision{Hash: "h1", Who: "admin", Reason: "first", Files: map[string]string{"a.rego": "package a"}}, 0,
		rec(t, "rules-revision", "", map[string]int{"rev": 1})); err != nil {
		t.Fatal(err)
	}
	if rs, err := s.ListRuleRevisions(ctx, 0, 10); err != nil || len(rs) != 1 || rs[0].Hash != "h1" || rs[0].Who != "admin" {
		t.Fatalf("intact list: %v", err)
	}
	if r, err := s.GetRuleRevision(ctx, 1); err != nil || r.Files["a.rego"] != "package a" || r.Reason != "first" {
		t.Fatalf("intact revision: %+v %v", r, err)
	}
	if _, err := s.GetRuleRevision(ctx, 2); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revision 2: %v; want ErrNotFound", err)
	}
}

// BenchmarkSQLiteReplicaRows: the reads that now refuse a BLOB: a lease's
// renewal, an attempt's heartbeat, a page of 100 rules revisions and the
// last law check. Each checks the values it scanned, and the lookups by
// name read the primary key twice (as text and as a BLOB).
func BenchmarkSQLiteReplicaRows(b *testing.B) {
	ctx := context.Background()
	s := openTest(b)
	for i := range 100 {
		if _, err := s.PutRuleRevision(ctx, &RuleRevision{Hash: fmt.Sprintf("h%d", i), Who: "admin", Reason: "r", Files: map[string]string{"a.rego": "package a"}}, int64(i),
			rec(b, "rules-revision", "", map[string]int{"rev": i + 1})); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.SetLawCheck(ctx, 1, "2026-01-02", rec(b, "law-check", "", map[string]int{"rev": 1})); err != nil {
		b.Fatal(err)
	}
	if err := s.Heard(ctx, "r1", 1); err != nil {
		b.Fatal(err)
	}
	b.Run("lease renewal", func(b *testing.B) {
		for range b.N {
			if _, err := s.TryLease(ctx, ControllerLease, "a", time.Hour); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("heartbeat", func(b *testing.B) {
		for range b.N {
			if _, ok, err := s.SilentFor(ctx, "r1", 1); err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("100 revisions", func(b *testing.B) {
		for range b.N {
			if rs, err := s.ListRuleRevisions(ctx, 0, 100); err != nil || len(rs) != 100 {
				b.Fatal(len(rs), err)
			}
		}
	})
	b.Run("law check", func(b *testing.B) {
		for range b.N {
			if _, _, err := s.LawCheck(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
