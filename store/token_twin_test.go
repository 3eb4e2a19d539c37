package store

import (
	"context"
	"database/sql"
	"errors"
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
