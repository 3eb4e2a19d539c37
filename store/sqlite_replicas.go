package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"meridian.dev/meridian/audit"
)

// TryLease implements Leaser, by this process's clock (SQLite has one
// writer machine).
func (s *SQLite) TryLease(ctx context.Context, name, holder string, ttl time.Duration) (Lease, error) {
	if err := fieldText("lease name", name, "lease holder", holder); err != nil {
		return Lease{}, err
	}
	var out Lease
	err := s.tx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		cur, found, err := leaseRow(ctx, tx, name)
		switch {
		case err != nil:
			return err
		case !found:
			out = Lease{Name: name, Holder: holder, Epoch: 1, Expires: now.Add(ttl)}
			_, err = tx.ExecContext(ctx, `INSERT INTO leases (name, holder, epoch, expires_at) VALUES (?, ?, ?, ?)`, name, holder, out.Epoch, fmtTime(out.Expires))
			return err
		}
		live := cur.Expires.After(now)
		if live && cur.Holder != holder {
			out = cur
			return nil
		}
		out = Lease{Name: name, Holder: holder, Epoch: cur.Epoch, Expires: now.Add(ttl)}
		if !live {
			out.Epoch++
		}
		_, err = tx.ExecContext(ctx, `UPDATE leases SET holder = ?, epoch = ?, expires_at = ? WHERE name = ?`, holder, out.Epoch, fmtTime(out.Expires), name)
		return err
	})
	return out, err
}

// qLeaseGet reads a lease's row by its name as text and as bytes (a
// BLOB): two seeks of the primary key.
const qLeaseGet = `SELECT name, holder, epoch, expires_at FROM leases WHERE name IN (?1, CAST(?1 AS BLOB))`

// leaseRow reads lease name's row. A row whose name, holder or expiry is
// stored as bytes (a BLOB, which SQLite keeps as it is in a TEXT column)
// is an error naming the column: whoever wrote the database rewrote a
// held lease's name so, and a lookup by text found no lease, so the next
// replica to ask took it anew at epoch 1 while its holder still acted,
// the epoch that fences a former holder's writes gone back to one that
// holder may carry.
func leaseRow(ctx context.Context, tx *sql.Tx, name string) (Lease, bool, error) {
	rows, err := tx.QueryContext(ctx, qLeaseGet, name)
	if err != nil {
		return Lease{}, false, err
	}
	defer rows.Close()
	var cur Lease
	found, seen := false, 0
	var bad error
	for rows.Next() {
		var n, holder, exp auditField
		var epoch int64
		if err := rows.Scan(&n, &holder, &epoch, &exp); err != nil {
			return Lease{}, false, err
		}
		seen++
		if err := rowText("leases", fmt.Sprintf("%q", name), textCol{name: "name", f: &n}, textCol{name: "holder", f: &holder},
			textCol{name: "expires_at", f: &exp}); err != nil {
			bad = err
			continue
		}
		cur, found = Lease{Name: name, Holder: holder.s, Epoch: epoch, Expires: parseTime(exp.s)}, true
	}
	if err := rows.Err(); err != nil {
		return Lease{}, false, err
	}
	// Two rows of one name: one has it as text, the other as bytes. Told
	// to store the name as text again, the operator would meet the
	// primary key's refusal.
	if seen > 1 {
		return Lease{}, false, fmt.Errorf("leases row %q: %w: one row has the name as text, another the same name stored as bytes (a BLOB), which SQLite keeps apart; the lease is not taken until the BLOB row is deleted (SELECT rowid FROM leases WHERE typeof(name) = 'blob')", name, ErrRowTwice)
	}
	return cur, found && bad == nil, bad
}

// ReleaseLease implements Leaser.
func (s *SQLite) ReleaseLease(ctx context.Context, name, holder string, epoch int64) error {
	if err := fieldText("lease name", name, "lease holder", holder); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, `UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ? AND epoch = ?`,
		fmtTime(time.Unix(0, 0)), name, holder, epoch)
	return err
}

// CheckFence implements Leaser.
func (s *SQLite) CheckFence(ctx context.Context, f Fence) error {
	return fenceRow(s.hotRow(ctx, qFenceGet, f.Lease), f)
}

// qFenceGet reads a lease's epoch by its name as text, and whether a row
// holds the same name as bytes (a BLOB, which SQLite keeps apart): two
// seeks of the primary key.
const qFenceGet = `SELECT epoch, EXISTS (SELECT 1 FROM leases AS t WHERE t.name = CAST(?1 AS BLOB)) FROM leases WHERE name = ?1`

// checkFence checks f in tx, on the statement prepared at open.
func (s *SQLite) checkFence(ctx context.Context, tx *sql.Tx, f Fence) error {
	return fenceRow(s.queryRow(ctx, tx, qFenceGet, f.Lease), f)
}

// fenceRow checks f against row, a row of qFenceGet. A lease held twice,
// its name as text and as bytes, fails closed: the read by text alone
// passed a write fenced at the text row's epoch while the BLOB row (at
// another epoch, another holder) stood beside it, and TryLease refused
// the pair.
func fenceRow(row interface{ Scan(...any) error }, f Fence) error {
	var epoch int64
	var twin bool
	err := row.Scan(&epoch, &twin)
	if errors.Is(err, sql.ErrNoRows) {
		return fencedErr(f, 0, false)
	}
	if err != nil {
		return err
	}
	if twin {
		return fmt.Errorf("leases row %q: %w: one row has the name as text, another the same name stored as bytes (a BLOB), which SQLite keeps apart; no write is fenced by the lease until the BLOB row is deleted (SELECT rowid FROM leases WHERE typeof(name) = 'blob')", f.Lease, ErrRowTwice)
	}
	if epoch != f.Epoch {
		return fencedErr(f, epoch, true)
	}
	return nil
}

// Heard implements Heartbeats.
func (s *SQLite) Heard(ctx context.Context, runID string, attempt int) error {
	if err := fieldText("heartbeat run id", runID); err != nil {
		return err
	}
	if err := fieldInt32("heartbeat attempt", attempt); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO heartbeats (run_id, attempt, at) VALUES (?, ?, ?)
		ON CONFLICT (run_id, attempt) DO UPDATE SET at = excluded.at`, runID, attempt, fmtTime(s.now()))
	return err
}

// SilentFor implements Heartbeats.
func (s *SQLite) SilentFor(ctx context.Context, runID string, attempt int) (time.Duration, bool, error) {
	rows, err := s.db.QueryContext(ctx, qHeartbeatGet, runID, attempt)
	if err != nil {
		return 0, false, err
	}
	defer rows.Close()
	var at time.Time
	found, seen := false, 0
	var bad error
	for rows.Next() {
		var id, t auditField
		if err := rows.Scan(&id, &t); err != nil {
			return 0, false, err
		}
		seen++
		if err := rowText("heartbeats", fmt.Sprintf("(run_id %q, attempt %d)", runID, attempt), textCol{name: "run_id", f: &id}, textCol{name: "at", f: &t}); err != nil {
			bad = err
			continue
		}
		at, found = parseTime(t.s), true
	}
	if err := rows.Err(); err != nil {
		return 0, false, err
	}
	if seen > 1 {
		return 0, false, fmt.Errorf("heartbeats row (run_id %q, attempt %d): %w: one row has the run_id as text, another the same run_id stored as bytes (a BLOB), which SQLite keeps apart; the attempt is not heard until the BLOB row is deleted (SELECT rowid FROM heartbeats WHERE typeof(run_id) = 'blob')", runID, attempt, ErrRowTwice)
	}
	if bad != nil || !found {
		return 0, false, bad
	}
	return s.now().Sub(at), true, nil
}

// qHeartbeatGet reads an attempt's heartbeat by its run as text and as
// bytes (a BLOB): two seeks of the primary key, each row read, so that a
// BLOB row beside a text one (Heard, which matches by text, adds one) is
// refused, not passed over.
const qHeartbeatGet = `SELECT run_id, at FROM heartbeats WHERE run_id IN (?1, CAST(?1 AS BLOB)) AND attempt = ?2`

// Holds implements Store.
func (s *SQLite) Holds(ctx context.Context) ([]TenantHold, error) {
	// A commit old at worst: every change that takes accelerators checks
	// its limits again in its own transaction.
	rows, err := s.holds.QueryContext(ctx)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanHolds(rows)
}

// CountRuns implements Store.
func (s *SQLite) CountRuns(ctx context.Context) ([]RunCount, error) {
	rows, err := s.db.QueryContext(ctx, countRunsQuery)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanRunCounts(rows)
}

const tokenCols = `id, tenant, hash, admin, note, created_at, revoked_at`

func scanToken(sc interface{ Scan(...any) error }) (*Token, error) {
	var r tokenRow
	if err := r.scan(sc); err != nil {
		return nil, err
	}
	return r.token()
}

// PutToken implements Tokens.
func (s *SQLite) PutToken(ctx context.Context, t *Token, rec audit.Record) (*Token, error) {
	out, err := s.PutTokens(ctx, []*Token{t}, []audit.Record{rec})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// PutTokens implements Tokens.
func (s *SQLite) PutTokens(ctx context.Context, ts []*Token, recs []audit.Record) ([]*Token, error) {
	if len(ts) != len(recs) {
		return nil, fmt.Errorf("add tokens: %d tokens but %d audit records", len(ts), len(recs))
	}
	if err := tokensText(ts, recs); err != nil {
		return nil, err
	}
	now := s.now()
	out := make([]*Token, len(ts))
	for i, t := range ts {
		nt := *t
		nt.ID = TokenID(t.Hash)
		nt.CreatedAt = now
		nt.RevokedAt = nil
		out[i] = &nt
	}
	var head *audit.Entry
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for _, nt := range out {
			admin := 0
			if nt.Admin {
				admin = 1
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO tokens (`+tokenCols+`) VALUES (?, ?, ?, ?, ?, ?, NULL)`,
				nt.ID, nt.Tenant, nt.Hash, admin, nt.Note, fmtTime(nt.CreatedAt)); err != nil {
				return fmt.Errorf("add token: %w", err)
			}
		}
		var err error
		head, err = s.appendAudit(ctx, tx, now, recs)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.notify(head)
	return out, nil
}

// TokenByHash implements Tokens.
func (s *SQLite) TokenByHash(ctx context.Context, h string) (*Token, error) {
	return sqliteTokenByHash(ctx, s.db, s.stmts[qTokenByHash], h)
}

// ListTokens implements Tokens.
func (s *SQLite) ListTokens(ctx context.Context) ([]*Token, error) {
	return s.listTokens(ctx, "tokens", `SELECT `+tokenCols+` FROM tokens ORDER BY created_at, id LIMIT ?`, maxTokens+1)
}

// TenantTokens implements Tokens.
func (s *SQLite) TenantTokens(ctx context.Context, after string, tenants int) ([]*Token, error) {
	if tenants < 1 {
		return nil, fmt.Errorf("tenant tokens: %d tenants: want 1 or more", tenants)
	}
	return s.listTokens(ctx, fmt.Sprintf("tokens of %d tenants after %q", tenants, after), `SELECT `+tokenCols+` FROM tokens
		WHERE tenant IN (SELECT DISTINCT tenant FROM tokens WHERE tenant > ? ORDER BY tenant LIMIT ?)
		ORDER BY tenant, created_at, id LIMIT ?`, after, tenants, maxTokens+1)
}

// listTokens is the tokens query selects (tokenCols), at most maxTokens
// of them (ErrTooMany, naming what, past it).
func (s *SQLite) listTokens(ctx context.Context, what, query string, args ...any) ([]*Token, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	rs, err := scanTokenRows(rows)
	if err != nil {
		return nil, err
	}
	if len(rs) > maxTokens {
		return nil, tooMany(what, maxTokens)
	}
	// A row held twice (its id or hash as text and as bytes) is named as
	// such, not as a BLOB to store as text again, which the primary key
	// or the hash's unique index would refuse.
	if err := tokenRowsTwice(rs); err != nil {
		return nil, err
	}
	var out []*Token
	for i := range rs {
		t, err := rs[i].token()
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// qLiveAdmins counts the live admin tokens that authenticate, before and
// after a revocation (ErrLastAdmin): liveAdminsQuery less the rows that
// TokenByHash refuses, a row whose text is stored as bytes (a BLOB) and
// a row held twice, another holding its id or hash as bytes. Counting
// them, the guard let the last admin token that authenticated be revoked
// while such rows stood. A scan of the tokens, as before, and two seeks
// (the primary key, the hash's unique index) a live admin.
const qLiveAdmins = `SELECT COUNT(*) FROM tokens AS k WHERE k.admin AND k.revoked_at IS NULL
	AND typeof(k.id) = 'text' AND typeof(k.tenant) = 'text' AND typeof(k.hash) = 'text'
	AND typeof(k.note) = 'text' AND typeof(k.created_at) = 'text'
	AND NOT EXISTS (SELECT 1 FROM tokens AS o WHERE o.id = CAST(k.id AS BLOB))
	AND NOT EXISTS (SELECT 1 FROM tokens AS o WHERE o.hash = CAST(k.hash AS BLOB))`

// RevokeTokens implements Tokens.
func (s *SQLite) RevokeTokens(ctx context.Context, tenant, id string, rec audit.Record) (int, error) {
	var n int64
	var head *audit.Entry
	err := s.tx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		q := `UPDATE tokens SET revoked_at = ? WHERE tenant = ? AND revoked_at IS NULL`
		args := []any{fmtTime(now), tenant}
		if id != "" {
			q += ` AND id = ?`
			args = append(args, id)
		}
		// Transactions are serialised (_txlock=immediate): the count
		// before and after is this revocation's alone.
		var before, after int
		if err := tx.QueryRowContext(ctx, qLiveAdmins).Scan(&before); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		if n, _ = res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		if err := tx.QueryRowContext(ctx, qLiveAdmins).Scan(&after); err != nil {
			return err
		}
		if before > 0 && after == 0 {
			return ErrLastAdmin
		}
		head, err = s.appendAudit(ctx, tx, now, []audit.Record{rec})
		return err
	})
	if err != nil {
		return 0, err
	}
	s.notify(head)
	return int(n), nil
}
