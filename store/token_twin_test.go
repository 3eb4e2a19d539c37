package store

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// dropTwinTriggers drops the triggers of SQLite migration 13, as whoever
// writes the database may: the reads must refuse a pair without them.
func dropTwinTriggers(t *testing.T, db *sql.DB) {
	t.Helper()
	for _, tr := range []string{"tokens_key_twin_insert", "tokens_key_twin_update", "tenants_key_twin_insert", "tenants_key_twin_update",
		"tenants_uid_integer_insert", "tenants_uid_integer_update"} {
		if _, err := db.Exec(`DROP TRIGGER IF EXISTS ` + tr); err != nil {
			t.Fatal(err)
		}
	}
}

// tokenTwinInsert copies the token rows with col (id or hash) as a BLOB
// of the same bytes, the other key column set apart, the tenant evil's
// and the token live: a copy written outside Meridian, which SQLite keeps
// under another key.
func tokenTwinInsert(col string) string {
	if col == "hash" {
		return `INSERT INTO tokens (` + tokenCols + `) SELECT 'other', 'evil', CAST(hash AS BLOB), 1, note, created_at, NULL FROM tokens LIMIT 1`
	}
	return `INSERT INTO tokens (` + tokenCols + `) SELECT CAST(id AS BLOB), 'evil', '` + HashToken("other") + `', 1, note, created_at, NULL FROM tokens LIMIT 1`
}

func wantTwice(t *testing.T, what string, err error, table, col string) {
	t.Helper()
	if !errors.Is(err, ErrRowTwice) || !strings.Contains(err.Error(), table) || !strings.Contains(err.Error(), col) || !strings.Contains(err.Error(), "BLOB") {
		t.Errorf("%s: %v; want ErrRowTwice naming %s and its %s", what, err, table, col)
	}
}

// TestSQLiteTokenKeyTwinRefused: a token's row next to a copy written
// outside Meridian with its hash or id as bytes (a BLOB of the same
// bytes), saying another tenant, admin, live. The lookup by hash matched
// the text row alone and authenticated the token as that row said, the
// copy passed by; the list refused the copy as a row to store as text
// again, which the unique index then refused. A token whose rows disagree
// now authenticates as no one: its lookup, the list and (for an id held
// twice) the copy's own lookup fail with ErrRowTwice naming the column.
func TestSQLiteTokenKeyTwinRefused(t *testing.T) {
	ctx := context.Background()
	for _, col := range []string{"hash", "id"} {
		for _, revoked := range []bool{false, true} {
			name := col
			if revoked {
				name += "/revoked"
			}
			t.Run(name, func(t *testing.T) {
				s := openTest(t)
				tok, err := s.PutToken(ctx, &Token{Tenant: "acme", Hash: HashToken("secret"), Note: "ci"}, rec(t, "token", "", map[string]string{"id": "t"}))
				if err != nil {
					t.Fatal(err)
				}
				dropTwinTriggers(t, s.DB())
				if _, err := s.DB().ExecContext(ctx, tokenTwinInsert(col)); err != nil {
					t.Fatal(err)
				}
				if revoked {
					// The copy is the live one; the text row revoked.
					if _, err := s.RevokeTokens(ctx, "acme", tok.ID, rec(t, "token", "", map[string]string{"id": "t"})); err != nil {
						t.Fatal(err)
					}
				}
				got, err := s.TokenByHash(ctx, tok.Hash)
				if err == nil {
					t.Errorf("the token's lookup: tenant %q, admin %v, revoked %v; want ErrRowTwice", got.Tenant, got.Admin, got.RevokedAt != nil)
				}
				wantTwice(t, "the token's lookup", err, "tokens", col)
				if col == "id" {
					_, err = s.TokenByHash(ctx, HashToken("other"))
					wantTwice(t, "the copy's lookup", err, "tokens", col)
				}
				_, err = s.ListTokens(ctx)
				wantTwice(t, "the token list", err, "tokens", col)
				// Another token is let through.
				other, err := s.PutToken(ctx, &Token{Tenant: "acme", Hash: HashToken("third"), Note: "ci"}, rec(t, "token", "", map[string]string{"id": "t3"}))
				if err != nil {
					t.Fatal(err)
				}
				if got, err := s.TokenByHash(ctx, other.Hash); err != nil || got.Tenant != "acme" {
					t.Errorf("another token: %v, %v", got, err)
				}
				if got, err := s.TokenByHash(ctx, HashToken("none")); !errors.Is(err, ErrNotFound) {
					t.Errorf("no token: %v, %v", got, err)
				}
			})
		}
	}
}

// TestSQLiteTokenLookupBounded: the lookup of a token by hash is a few
// seeks of the hash's unique index and the primary key, not a scan.
func TestSQLiteTokenLookupBounded(t *testing.T) {
	s := openTest(t)
	h := HashToken("secret")
	p := sqlitePlan(t, s.DB(), qTokenByHash, h, TokenID(h))
	if strings.Contains(p, "SCAN") || !strings.Contains(p, "SEARCH") {
		t.Errorf("the token's lookup is not planned as seeks:\n%s", p)
	}
}

// TestSQLiteTokenKeyTwinNotWritten: a copy of a token's row with its id
// or hash as a BLOB is refused when written (an INSERT, or an UPDATE of
// another row's key), by a connection of its own as by hand; it was kept
// beside the row. Meridian's own writes pass.
func TestSQLiteTokenKeyTwinNotWritten(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	s, err := OpenSQLite(ctx, path, Options{AuditKey: []byte("test key 0123456")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, sec := range []string{"secret", "two"} {
		if _, err := s.PutToken(ctx, &Token{Tenant: "acme", Hash: HashToken(sec), Admin: true}, rec(t, "token", "", map[string]string{"id": sec})); err != nil {
			t.Fatal(err)
		}
	}
	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for _, col := range []string{"hash", "id"} {
		if _, err := other.ExecContext(ctx, tokenTwinInsert(col)); err == nil || !strings.Contains(err.Error(), "BLOB") {
			t.Errorf("a copy with its %s as a BLOB was written: %v", col, err)
		}
	}
	two := HashToken("two")
	if _, err := other.ExecContext(ctx, `UPDATE tokens SET hash = CAST(? AS BLOB) WHERE hash = ?`, HashToken("secret"), two); err == nil {
		t.Errorf("a token's hash set to another's as a BLOB")
	}
	if _, err := other.ExecContext(ctx, `UPDATE tokens SET id = CAST(? AS BLOB) WHERE hash = ?`, TokenID(HashToken("secret")), two); err == nil {
		t.Errorf("a token's id set to another's as a BLOB")
	}
	var n int
	if err := other.QueryRowContext(ctx, `SELECT COUNT(*) FROM tokens`).Scan(&n); err != nil || n != 2 {
		t.Errorf("%d token rows, %v; want 2", n, err)
	}
	if _, err := s.PutToken(ctx, &Token{Tenant: "acme", Hash: HashToken("three")}, rec(t, "token", "", map[string]string{"id": "3"})); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokeTokens(ctx, "acme", TokenID(HashToken("three")), rec(t, "token", "", map[string]string{"id": "3"})); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ListTokens(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestSQLiteTenantKeyTwinRefused: a tenant's row next to a copy written
// outside Meridian with its name as bytes (a BLOB of the same bytes) and
// another user id. The lookup matched the text row alone and gave its
// user id; it now fails with ErrRowTwice, and other tenants are served.
func TestSQLiteTenantKeyTwinRefused(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	const base = 3000000
	if uid, err := s.TenantUID(ctx, "acme", base); err != nil || uid != base {
		t.Fatalf("uid %d, %v", uid, err)
	}
	dropTwinTriggers(t, s.DB())
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO tenants (name, uid, created_at) SELECT CAST(name AS BLOB), uid + 7, created_at FROM tenants`); err != nil {
		t.Fatal(err)
	}
	uid, err := s.TenantUID(ctx, "acme", base)
	if err == nil {
		t.Errorf("the tenant's user id, its row held twice: %d, no error", uid)
	}
	wantTwice(t, "the tenant's user id", err, "tenants", "name")
	if uid, err := s.TenantUID(ctx, "other", base); err != nil || uid != base+8 {
		t.Errorf("another tenant: uid %d, %v; want %d", uid, err, base+8)
	}
}

// TestSQLiteTenantUIDStoredAsBlob: a tenant's row written outside
// Meridian with its user id as bytes, the digits of another tenant's id.
// SQLite kept the BLOB in the INTEGER column, the count of that id's
// holders did not match it (a BLOB is not the integer), and database/sql
// read the digits back as the number: the tenant's workloads ran as the
// other tenant's user. The lookup now fails naming the uid.
func TestSQLiteTenantUIDStoredAsBlob(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	const base = 3000000
	if uid, err := s.TenantUID(ctx, "acme", base); err != nil || uid != base {
		t.Fatalf("uid %d, %v", uid, err)
	}
	dropTwinTriggers(t, s.DB())
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO tenants (name, uid, created_at) SELECT 'evil', CAST(CAST(uid AS TEXT) AS BLOB), created_at FROM tenants`); err != nil {
		t.Fatal(err)
	}
	uid, err := s.TenantUID(ctx, "evil", base)
	if err == nil || !strings.Contains(err.Error(), "uid") || !strings.Contains(err.Error(), "blob") {
		t.Errorf("evil's user id, stored as a BLOB of acme's: %d, %v; want an error naming the uid", uid, err)
	}
	if uid, err := s.TenantUID(ctx, "acme", base); err != nil || uid != base {
		t.Errorf("acme: uid %d, %v", uid, err)
	}
}

// TestSQLiteTenantKeyTwinNotWritten: a copy of a tenant's row with its
// name as a BLOB, and a user id stored as anything but an integer, are
// refused when written; Meridian's own writes pass.
func TestSQLiteTenantKeyTwinNotWritten(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	const base = 3000000
	for _, n := range []string{"acme", "beta"} {
		if _, err := s.TenantUID(ctx, n, base); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		`INSERT INTO tenants (name, uid, created_at) SELECT CAST(name AS BLOB), uid + 7, created_at FROM tenants WHERE name = 'acme'`,
		`UPDATE tenants SET name = CAST('acme' AS BLOB) WHERE name = 'beta'`,
		`INSERT INTO tenants (name, uid, created_at) VALUES ('evil', CAST('3000000' AS BLOB), 'x')`,
		`INSERT INTO tenants (name, uid, created_at) VALUES ('evil', 'x3000000', 'x')`,
		`UPDATE tenants SET uid = CAST('3000000' AS BLOB) WHERE name = 'beta'`,
	} {
		if _, err := s.DB().ExecContext(ctx, q); err == nil {
			t.Errorf("written: %s", q)
		}
	}
	if uid, err := s.TenantUID(ctx, "gamma", base); err != nil || uid != base+2 {
		t.Errorf("a new tenant: %d, %v", uid, err)
	}
	for n, want := range map[string]int{"acme": base, "beta": base + 1} {
		if uid, err := s.TenantUID(ctx, n, base); err != nil || uid != want {
			t.Errorf("%s: %d, %v; want %d", n, uid, err, want)
		}
	}
}

// TestSQLiteTokenTenantTwinMigrated: a database that holds a token and a
// tenant twice already is upgraded (the triggers of migration 13 check
// only the writes after them), and its reads then name the pairs.
func TestSQLiteTokenTenantTwinMigrated(t *testing.T) {
	ctx := context.Background()
	path, db := sqliteMigratedTo(t, 12)
	h := HashToken("secret")
	for _, q := range []string{
		`INSERT INTO tokens (` + tokenCols + `) VALUES ('` + TokenID(h) + `', 'acme', '` + h + `', 0, '', '2026-06-01T12:00:00.000000000Z', NULL)`,
		tokenTwinInsert("hash"),
		`INSERT INTO tenants (name, uid, created_at) VALUES ('acme', 3000000, 'x'), (CAST('acme' AS BLOB), 3000001, 'x')`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s, err := OpenSQLite(ctx, path, Options{AuditKey: []byte("test key 0123456")})
	if err != nil {
		t.Fatalf("a database holding twins was not upgraded: %v", err)
	}
	defer s.Close()
	_, err = s.TokenByHash(ctx, h)
	wantTwice(t, "the token's lookup", err, "tokens", "hash")
	_, err = s.TenantUID(ctx, "acme", 3000000)
	wantTwice(t, "the tenant's user id", err, "tenants", "name")
}

// TestSQLiteTokenTenantLookupAfterClose: the lookups prepared at open
// tell, after Close, that the database is closed, as the other reads do,
// not that a statement is.
func TestSQLiteTokenTenantLookupAfterClose(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TokenByHash(ctx, HashToken("secret")); err == nil || !strings.Contains(err.Error(), "database is closed") {
		t.Errorf("the token's lookup after Close: %v", err)
	}
	if _, err := s.TenantUID(ctx, "acme", 3000000); err == nil || !strings.Contains(err.Error(), "database is closed") {
		t.Errorf("the tenant's user id after Close: %v", err)
	}
}
