package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// dropRuleRevTriggers drops the triggers of SQLite migration 14, as
// whoever writes the database may: the reads must refuse the rows alone.
func dropRuleRevTriggers(t *testing.T, db *sql.DB) {
	t.Helper()
	for _, tr := range []string{"rule_revisions_rev_integer_insert", "rule_revisions_rev_integer_update",
		"runs_key_twin_insert", "runs_key_twin_update", "idempotency_keys_key_twin_insert", "idempotency_keys_key_twin_update",
		"events_key_twin_insert", "events_key_twin_update",
		"leases_key_twin_insert", "leases_key_twin_update"} {
		if _, err := db.Exec(`DROP TRIGGER IF EXISTS ` + tr); err != nil {
			t.Fatal(err)
		}
	}
}

func putRevisions(t testing.TB, s *SQLite, n int) {
	t.Helper()
	for i := range n {
		if _, err := s.PutRuleRevision(context.Background(), &RuleRevision{Hash: fmt.Sprintf("h%d", i+1), Who: "admin", Reason: "r", Files: map[string]string{"a.rego": "package a"}}, int64(i),
			rec(t, "rules-revision", "", map[string]int{"rev": i + 1})); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSQLiteRuleRevisionTwinRefused: a rules revision's row next to a
// copy written outside Meridian with its rev as bytes (a BLOB of the
// digits), another author and other files. rev is a BIGINT primary key,
// not SQLite's rowid, so the BLOB was kept under another key: revision 1
// was read as the integer row, listed twice with two authors, and the
// latest revision taken for the copy's number (the largest value of the
// column is the BLOB). The law's reads now fail with ErrRowTwice naming
// the pair; a rev stored as text or as a real is refused by name too.
func TestSQLiteRuleRevisionTwinRefused(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	putRevisions(t, s, 3)
	dropRuleRevTriggers(t, s.DB())
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO rule_revisions (rev, hash, who, reason, created_at, listing, files)
		SELECT CAST(CAST(rev AS TEXT) AS BLOB), hash, 'mallory', reason, created_at, listing, '{"a.rego":"package evil"}' FROM rule_revisions WHERE rev = 1`); err != nil {
		t.Fatal(err)
	}
	want := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrRowTwice) || !strings.Contains(err.Error(), "rule_revisions") || !strings.Contains(err.Error(), "rev 1") || !strings.Contains(err.Error(), "BLOB") {
			t.Errorf("%s: %v; want ErrRowTwice naming rule_revisions, rev 1 and the BLOB", what, err)
		}
	}
	r, err := s.GetRuleRevision(ctx, 1)
	if err == nil {
		t.Errorf("revision 1 held twice read as %q's", r.Who)
	}
	want("revision 1", err)
	_, err = s.GetRuleRevision(ctx, 3)
	want("revision 3", err)
	rs, err := s.ListRuleRevisions(ctx, 0, 10)
	if err == nil {
		t.Errorf("the list of a revision held twice: %d revisions", len(rs))
	}
	want("the list", err)
	last, err := s.LastRuleRevision(ctx)
	if err == nil {
		t.Errorf("the latest revision, one held twice: %d", last)
	}
	want("the latest revision", err)
	_, err = s.PutRuleRevision(ctx, &RuleRevision{Hash: "h4", Who: "admin", Reason: "r", Files: map[string]string{}}, 3, rec(t, "rules-revision", "", map[string]int{"rev": 4}))
	want("a new revision", err)

	// Deleted, the law reads again.
	if _, err := s.DB().ExecContext(ctx, `DELETE FROM rule_revisions WHERE typeof(rev) = 'blob'`); err != nil {
		t.Fatal(err)
	}
	if r, err := s.GetRuleRevision(ctx, 1); err != nil || r.Who != "admin" {
		t.Errorf("revision 1: %+v, %v", r, err)
	}
	if last, err := s.LastRuleRevision(ctx); err != nil || last != 3 {
		t.Errorf("latest revision %d, %v; want 3", last, err)
	}

	// A rev stored as text, bytes of no revision, or a real: named.
	for _, c := range []struct{ rev, typ string }{{"'3x'", "text"}, {"CAST('9' AS BLOB)", "bytes"}, {"2.5", "real"}, {"7.5", "real"}} {
		t.Run(c.typ+c.rev, func(t *testing.T) {
			if _, err := s.DB().ExecContext(ctx, `INSERT INTO rule_revisions (rev, hash, who, reason, created_at, listing, files)
				SELECT `+c.rev+`, hash, 'mallory', reason, created_at, listing, files FROM rule_revisions WHERE rev = 1`); err != nil {
				t.Fatal(err)
			}
			defer func() {
				if _, err := s.DB().ExecContext(ctx, `DELETE FROM rule_revisions WHERE typeof(rev) <> 'integer'`); err != nil {
					t.Fatal(err)
				}
			}()
			named := func(what string, err error) {
				t.Helper()
				if err == nil || errors.Is(err, ErrRowTwice) || !strings.Contains(err.Error(), "rule_revisions") || !strings.Contains(err.Error(), "stored as "+c.typ) {
					t.Errorf("%s: %v; want an error naming rule_revisions and a rev stored as %s", what, err, c.typ)
				}
			}
			_, err := s.ListRuleRevisions(ctx, 0, 10)
			named("the list", err)
			if c.rev != "2.5" {
				_, err = s.LastRuleRevision(ctx)
				named("the latest revision", err)
				_, err = s.GetRuleRevision(ctx, 1)
				named("revision 1", err)
			} else if last, err := s.LastRuleRevision(ctx); err != nil || last != 3 {
				// A real below the latest is met where it is listed.
				t.Errorf("latest revision %d, %v; want 3", last, err)
			}
		})
	}
}

// TestSQLiteRuleRevisionReadsBounded: the law's reads stay seeks of the
// rev's index: the latest revision (at every refresh), one revision, and
// a page of the list.
func TestSQLiteRuleRevisionReadsBounded(t *testing.T) {
	s := openTest(t)
	putRevisions(t, s, 3)
	for _, q := range []struct {
		q    string
		args []any
	}{{qLastRuleRev, nil}, {qGetRuleRev, []any{int64(1)}}, {qListRuleRevs, []any{int64(0), 10}}} {
		p := sqlitePlan(t, s.DB(), q.q, q.args...)
		if strings.Contains(p, "SCAN") || !strings.Contains(p, "SEARCH") {
			t.Errorf("%s is not planned as a seek:\n%s", q.q, p)
		}
	}
}

// TestSQLiteRuleRevisionTwinNotWritten: a rev stored as anything but an
// integer (bytes, text, a real) is refused when written, an insert or an
// update, by any connection; Meridian's own writes pass.
func TestSQLiteRuleRevisionTwinNotWritten(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	putRevisions(t, s, 2)
	for _, q := range []string{
		`INSERT INTO rule_revisions (rev, hash, who, reason, created_at, listing, files) SELECT CAST('1' AS BLOB), hash, who, reason, created_at, listing, files FROM rule_revisions WHERE rev = 1`,
		`INSERT INTO rule_revisions (rev, hash, who, reason, created_at, listing, files) SELECT '3x', hash, who, reason, created_at, listing, files FROM rule_revisions WHERE rev = 1`,
		`INSERT INTO rule_revisions (rev, hash, who, reason, created_at, listing, files) SELECT 2.5, hash, who, reason, created_at, listing, files FROM rule_revisions WHERE rev = 1`,
		`UPDATE rule_revisions SET rev = CAST('1' AS BLOB) WHERE rev = 2`,
		`UPDATE rule_revisions SET rev = 1.5 WHERE rev = 2`,
	} {
		if _, err := s.DB().ExecContext(ctx, q); err == nil || !strings.Contains(err.Error(), "integer") {
			t.Errorf("written (%v): %s", err, q)
		}
	}
	putRevisions2 := func() {
		if _, err := s.PutRuleRevision(ctx, &RuleRevision{Hash: "h3", Who: "admin", Reason: "r", Files: map[string]string{}}, 2, rec(t, "rules-revision", "", map[string]int{"rev": 3})); err != nil {
			t.Fatal(err)
		}
	}
	putRevisions2()
	if rs, err := s.ListRuleRevisions(ctx, 0, 10); err != nil || len(rs) != 3 {
		t.Errorf("list: %d, %v", len(rs), err)
	}
}

// TestSQLiteRuleRevisionTwinMigrated: a database that holds a revision,
// a run and an idempotency key twice already is upgraded (migration 14's triggers check only later
// writes), and its law's reads then name the pair.
func TestSQLiteRuleRevisionTwinMigrated(t *testing.T) {
	ctx := context.Background()
	path, db := sqliteMigratedTo(t, 13)
	if _, err := db.ExecContext(ctx, `INSERT INTO rule_revisions (rev, hash, who, reason, created_at, listing, files) VALUES
		(1, 'h1', 'admin', 'r', '2026-06-01T12:00:00.000000000Z', '[]', '{}'),
		(CAST('1' AS BLOB), 'h1', 'mallory', 'r', '2026-06-01T12:00:00.000000000Z', '[]', '{}')`); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO runs (` + runCols + `) VALUES ('r1', 'acme', 'j', 'running', '', 0, '', '{}', 1, '2026-06-01T12:00:00.000000000Z', '2026-06-01T12:00:00.000000000Z', '', 0, '', 0)`,
		`INSERT INTO runs (` + runCols + `) SELECT CAST(id AS BLOB), 'evil', job, state, site, attempt, handle, data, version, created_at, updated_at, hold_site, hold_pool, hold_accelerator, hold_count FROM runs`,
		`INSERT INTO idempotency_keys (tenant, key, run_id, created_at) VALUES ('acme', 'k1', 'r1', 'x'), ('acme', CAST('k1' AS BLOB), 'r2', 'x')`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s, err := OpenSQLite(ctx, path, Options{AuditKey: []byte("test key 0123456")})
	if err != nil {
		t.Fatalf("a database holding a revision twice was not upgraded: %v", err)
	}
	defer s.Close()
	if _, err := s.GetRuleRevision(ctx, 1); !errors.Is(err, ErrRowTwice) {
		t.Errorf("revision 1: %v; want ErrRowTwice", err)
	}
	if _, err := s.GetRun(ctx, "r1"); !errors.Is(err, ErrRowTwice) {
		t.Errorf("run r1: %v; want ErrRowTwice", err)
	}
	if _, err := s.RunByKey(ctx, "acme", "k1"); !errors.Is(err, ErrRowTwice) {
		t.Errorf("key k1: %v; want ErrRowTwice", err)
	}
}

// BenchmarkSQLiteRuleRevisionReads: the latest revision's number (read at
// every refresh), one revision and a page of 100; each now asks the
// index's last entry first.
func BenchmarkSQLiteRuleRevisionReads(b *testing.B) {
	ctx := context.Background()
	s := openTest(b)
	for i := range 100 {
		if _, err := s.PutRuleRevision(ctx, &RuleRevision{Hash: fmt.Sprintf("h%d", i), Who: "admin", Reason: "r", Files: map[string]string{"a.rego": "package a"}}, int64(i),
			rec(b, "rules-revision", "", map[string]int{"rev": i + 1})); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("latest", func(b *testing.B) {
		for range b.N {
			if _, err := s.LastRuleRevision(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("one", func(b *testing.B) {
		for range b.N {
			if _, err := s.GetRuleRevision(ctx, 50); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("page", func(b *testing.B) {
		for range b.N {
			if _, err := s.ListRuleRevisions(ctx, 0, 100); err != nil {
				b.Fatal(err)
			}
		}
	})
}
