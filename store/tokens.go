package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"meridian.dev/meridian/audit"
)

// Token is an API token as the store keeps it: only the SHA-256 of the
// secret, never the secret. Tokens are 256-bit random values, so a plain
// hash is enough: nothing can be guessed from it.
type Token struct {
	// ID names the token in listings and revocations (the first 12 hex
	// digits of its hash); it grants nothing.
	ID     string
	Tenant string
	Hash   string
	// Admin tokens may manage tenants and the server's rules; they see no
	// other tenant's runs or data for it.
	Admin     bool
	Note      string
	CreatedAt time.Time
	// RevokedAt is set once the token is revoked; it then grants nothing.
	RevokedAt *time.Time
}

// HashToken is the stored form of a token secret.
func HashToken(secret string) string {
	s := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(s[:])
}

// TokenID is the public id of a token with hash h.
func TokenID(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// Tokens keeps the API's tokens.
type Tokens interface {
	// PutToken adds t (t.Hash set; ID and CreatedAt are filled in) with its
	// audit record, in one transaction.
	PutToken(ctx context.Context, t *Token, rec audit.Record) (*Token, error)
	// PutTokens adds every token of ts, with recs (one audit record each),
	// in one transaction: all of them or, on an error, none.
	PutTokens(ctx context.Context, ts []*Token, recs []audit.Record) ([]*Token, error)
	// TokenByHash returns the token with hash h, revoked or not, or
	// ErrNotFound.
	TokenByHash(ctx context.Context, h string) (*Token, error)
	// ListTokens returns every token, revoked ones too, oldest first;
	// more than MaxTokens is ErrTooMany.
	ListTokens(ctx context.Context) ([]*Token, error)
	// TenantTokens returns the tokens of the first tenants (at most
	// tenants of them) named after after, in name order, each tenant's
	// oldest first: a page of ListTokens by tenant. More than MaxTokens is
	// ErrTooMany.
	TenantTokens(ctx context.Context, after string, tenants int) ([]*Token, error)
	// RevokeTokens revokes the live tokens of tenant (all of them when id is
	// empty, else the one with that id) with its audit record, and returns
	// how many it revoked; none is ErrNotFound. It revokes nothing, and
	// returns ErrLastAdmin, when that would revoke the last live admin
	// tokens: the test and the change are one transaction, so two
	// revocations at once cannot each leave the other's admin as the last.
	RevokeTokens(ctx context.Context, tenant, id string, rec audit.Record) (int, error)
}

// liveAdminsQuery counts the live admin tokens, before and after a
// revocation (ErrLastAdmin).
const liveAdminsQuery = `SELECT COUNT(*) FROM tokens WHERE admin AND revoked_at IS NULL`

// ErrLastAdmin is RevokeTokens' refusal to leave no live admin token.
var ErrLastAdmin = errors.New("that would revoke the last live admin token")

// tokenRow is a row of the SQLite tokens table as read, before the checks
// that make it a Token (see token).
type tokenRow struct {
	id, tenant, hash, note, ca, ra auditField
	admin                          int
}

func (r *tokenRow) scan(sc interface{ Scan(...any) error }) error {
	return sc.Scan(&r.id, &r.tenant, &r.hash, &r.admin, &r.note, &r.ca, &r.ra)
}

// token is the row as a Token. A token row whose tenant or id is a BLOB
// escaped a revocation (by tenant, by id) while its hash still matched;
// it grants nothing.
func (r *tokenRow) token() (*Token, error) {
	if err := rowText("tokens", fmt.Sprintf("%q", r.id.s),
		textCol{name: "id", f: &r.id}, textCol{name: "tenant", f: &r.tenant}, textCol{name: "hash", f: &r.hash}, textCol{name: "note", f: &r.note},
		textCol{name: "created_at", f: &r.ca}, textCol{name: "revoked_at", f: &r.ra, nullable: true}); err != nil {
		return nil, err
	}
	t := Token{ID: r.id.s, Tenant: r.tenant.s, Hash: r.hash.s, Note: r.note.s, Admin: r.admin != 0, CreatedAt: parseTime(r.ca.s)}
	if !r.ra.null {
		ra := parseTime(r.ra.s)
		t.RevokedAt = &ra
	}
	return &t, nil
}

// tokenTwice is ErrRowTwice for the token rows a and b, which hold the
// same id or the same hash, one as text and the other as bytes: SQLite
// keeps both (the primary key and the unique index of the hash compare a
// BLOB with no text), and which of them says the token's tenant, rights
// and revocation is not for the store to guess.
func tokenTwice(a, b *tokenRow) error {
	if a.id.s == b.id.s {
		return tokenTwiceCol(a.id.s, "id")
	}
	return tokenTwiceCol(a.id.s, "hash")
}

func tokenTwiceCol(id, col string) error {
	return fmt.Errorf("tokens row %q: %w: one row has its %s as text, another the same %s stored as bytes (a BLOB), which SQLite keeps apart; the token grants nothing until the BLOB row is deleted (SELECT rowid FROM tokens WHERE typeof(%s) = 'blob')",
		id, ErrRowTwice, col, col, col)
}

// qTokenByHash reads the token of hash ?1 and any row holding its hash,
// or its id (?2), as the other of text and bytes (a BLOB of the same
// bytes, which a comparison with text does not match): at most four
// seeks, of the hash's unique index and of the primary key.
const qTokenByHash = `SELECT ` + tokenCols + ` FROM tokens
	WHERE hash IN (?1, CAST(?1 AS BLOB)) OR id IN (?2, CAST(?2 AS BLOB)) LIMIT 5`

// sqliteTokenByHash is TokenByHash on SQLite: the token whose hash is h,
// ErrRowTwice when another row holds its hash or its id as bytes (a token
// whose rows disagree authenticates as no one), or ErrNotFound.
func sqliteTokenByHash(ctx context.Context, db *sql.DB, st *sql.Stmt, h string) (*Token, error) {
	rows, err := st.QueryContext(ctx, h, TokenID(h))
	if err != nil {
		// st, prepared at open, is closed with the store: the query on
		// db tells why as every other read does (the database closed).
		if rows, err = db.QueryContext(ctx, qTokenByHash, h, TokenID(h)); err != nil {
			return nil, err
		}
	}
	defer rows.Close()
	rs, err := scanTokenRows(rows)
	if err != nil {
		return nil, err
	}
	// The token is the row whose hash is h as text (the unique index
	// holds one); a row whose hash is h as bytes and no text twin grants
	// nothing, as before: the lookup passes it by.
	var match *tokenRow
	for i := range rs {
		if rs[i].hash.s == h && !rs[i].hash.blob {
			match = &rs[i]
		}
	}
	if match == nil {
		return nil, ErrNotFound
	}
	for i := range rs {
		if &rs[i] != match && (rs[i].hash.s == match.hash.s || rs[i].id.s == match.id.s) {
			return nil, tokenTwice(match, &rs[i])
		}
	}
	if match.id.s != TokenID(h) {
		// A row written outside Meridian, whose id is not its hash's:
		// the seeks above looked for the twin of another id.
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM tokens WHERE id IN (?1, CAST(?1 AS BLOB))`, match.id.s).Scan(&n); err != nil {
			return nil, err
		}
		if n > 1 {
			return nil, tokenTwiceCol(match.id.s, "id")
		}
	}
	return match.token()
}

// tokenRowsTwice is ErrRowTwice for the first two of rs that hold one id
// or one hash, or nil.
func tokenRowsTwice(rs []tokenRow) error {
	ids := make(map[string]int, len(rs))
	hashes := make(map[string]int, len(rs))
	for i := range rs {
		if j, ok := ids[rs[i].id.s]; ok {
			return tokenTwice(&rs[j], &rs[i])
		}
		if j, ok := hashes[rs[i].hash.s]; ok {
			return tokenTwice(&rs[j], &rs[i])
		}
		ids[rs[i].id.s], hashes[rs[i].hash.s] = i, i
	}
	return nil
}

// qTenantUID reads a tenant's row of the SQLite tenants table, its name as
// text and as bytes (a BLOB of the same bytes, which SQLite keeps under
// another key), with the type its user id is stored as and how many
// tenants hold that id: at most two seeks of the primary key.
const qTenantUID = `SELECT typeof(t.name), typeof(t.uid), t.uid, (SELECT COUNT(*) FROM tenants AS o WHERE o.uid = t.uid)
	FROM tenants AS t WHERE t.name IN (?1, CAST(?1 AS BLOB)) LIMIT 2`

// sqliteTenantUID reads tenant's recorded user id on SQLite (found false:
// none is). It refuses a tenant held twice, its name as text and as bytes
// (ErrRowTwice: which row says its user id is not for the store to
// guess), a row whose name is bytes, and a user id stored as anything but
// an integer: SQLite keeps a BLOB as it is in an INTEGER column, and
// database/sql read a BLOB of another tenant's id's digits back as that
// id, which the count of its holders (a BLOB is not the integer) let by.
//
// st is qTenantUID prepared; db, when not nil, is queried should st fail:
// prepared at open, st is closed with the store, and the query on db then
// tells why as every other read does (the database closed).
func sqliteTenantUID(ctx context.Context, db *sql.DB, st *sql.Stmt, tenant string, base int) (uid int, found bool, err error) {
	rows, err := st.QueryContext(ctx, tenant)
	if err != nil && db != nil {
		rows, err = db.QueryContext(ctx, qTenantUID, tenant)
	}
	if err != nil {
		return 0, false, err
	}
	defer rows.Close()
	type row struct {
		nameType, uidType string
		uid               any
		holders           int64
	}
	var rs []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.nameType, &r.uidType, &r.uid, &r.holders); err != nil {
			return 0, false, err
		}
		rs = append(rs, r)
	}
	if err := rows.Err(); err != nil {
		return 0, false, err
	}
	switch {
	case len(rs) == 0:
		return 0, false, nil
	case len(rs) > 1:
		return 0, true, fmt.Errorf("tenants row %q: %w: one row has its name as text, another the same name stored as bytes (a BLOB), which SQLite keeps apart; the tenant is given no user id until the BLOB row is deleted (SELECT rowid FROM tenants WHERE typeof(name) = 'blob')", tenant, ErrRowTwice)
	case rs[0].nameType == "blob":
		// The tenant's row rewritten outside Meridian: passed by, the
		// tenant was given a second row, and another user id than the
		// one its files on the sites are owned by.
		return 0, true, fmt.Errorf("tenants row %q: its name is stored as bytes (a BLOB), not as text: the row was written outside Meridian, and the lookup of the tenant's user id does not match it; store it as text again", tenant)
	case rs[0].uidType != "integer":
		return 0, true, fmt.Errorf("tenants row %q: its uid is stored as %s, not as an integer: the row was written outside Meridian, and the count of the tenants holding that user id does not match it", tenant, rs[0].uidType)
	}
	n, _ := rs[0].uid.(int64)
	uid, err = tenantUIDCheck(tenant, n, rs[0].holders, base)
	return uid, true, err
}

// scanTokenRows reads every token row rows holds.
func scanTokenRows(rows *sql.Rows) ([]tokenRow, error) {
	var rs []tokenRow
	for rows.Next() {
		var r tokenRow
		if err := r.scan(rows); err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	return rs, rows.Err()
}
