package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"meridian.dev/meridian/audit"
)

// TryLease implements Leaser by the database's clock: one statement takes
// a free or expired lease (a new epoch) or renews the holder's own. A lease
// given back holds -infinity (see ReleaseLease), which a time.Time cannot
// take: both reads return it as expired at the Unix epoch instead. The
// second read can meet it when the holder gives the lease back between
// the two statements.
func (s *Postgres) TryLease(ctx context.Context, name, holder string, ttl time.Duration) (Lease, error) {
	if err := fieldText("lease name", name, "lease holder", holder); err != nil {
		return Lease{}, err
	}
	l := Lease{Name: name}
	err := s.pool.QueryRow(ctx, `INSERT INTO leases AS l (name, holder, epoch, expires_at)
		VALUES ($1, $2, 1, clock_timestamp() + $3 * interval '1 microsecond')
		ON CONFLICT (name) DO UPDATE SET
			holder = EXCLUDED.holder,
			epoch = CASE WHEN l.holder = EXCLUDED.holder AND l.expires_at > clock_timestamp() THEN l.epoch ELSE l.epoch + 1 END,
			expires_at = EXCLUDED.expires_at
		WHERE l.holder = EXCLUDED.holder OR l.expires_at <= clock_timestamp()
		RETURNING holder, epoch, GREATEST(expires_at, 'epoch')`, name, holder, ttl.Microseconds()).Scan(&l.Holder, &l.Epoch, &l.Expires)
	if errors.Is(err, pgx.ErrNoRows) {
		// Held by another, and live.
		err = s.pool.QueryRow(ctx, `SELECT holder, epoch, GREATEST(expires_at, 'epoch') FROM leases WHERE name = $1`, name).Scan(&l.Holder, &l.Epoch, &l.Expires)
	}
	if err != nil {
		return Lease{}, fmt.Errorf("lease %s: %w", name, err)
	}
	l.Expires = l.Expires.UTC()
	return l, nil
}

// ReleaseLease implements Leaser.
func (s *Postgres) ReleaseLease(ctx context.Context, name, holder string, epoch int64) error {
	if err := fieldText("lease name", name, "lease holder", holder); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `UPDATE leases SET expires_at = '-infinity' WHERE name = $1 AND holder = $2 AND epoch = $3`, name, holder, epoch)
	return err
}

// CheckFence implements Leaser.
func (s *Postgres) CheckFence(ctx context.Context, f Fence) error {
	return pgCheckFence(ctx, s.pool, f, false)
}

// pgCheckFence compares the lease's epoch with f's. Inside a transaction,
// share is true: the lease row stays share-locked until the transaction
// ends, so a takeover (which updates the row) waits for the fenced write to
// commit, and every fenced write that checks after the takeover sees the
// new epoch. Writers check last, just before committing.
func pgCheckFence(ctx context.Context, q pgQuerier, f Fence, share bool) error {
	sql := `SELECT epoch FROM leases WHERE name = $1`
	if share {
		sql += ` FOR SHARE`
	}
	var epoch int64
	err := q.QueryRow(ctx, sql, f.Lease).Scan(&epoch)
	if errors.Is(err, pgx.ErrNoRows) {
		return fencedErr(f, 0, false)
	}
	if err != nil {
		return err
	}
	if epoch != f.Epoch {
		return fencedErr(f, epoch, true)
	}
	return nil
}

// Heard implements Heartbeats.
func (s *Postgres) Heard(ctx context.Context, runID string, attempt int) error {
	if err := fieldText("heartbeat run id", runID); err != nil {
		return err
	}
	if err := fieldInt32("heartbeat attempt", attempt); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO heartbeats (run_id, attempt, at) VALUES ($1, $2, clock_timestamp())
		ON CONFLICT (run_id, attempt) DO UPDATE SET at = EXCLUDED.at`, runID, attempt)
	return err
}

// SilentFor implements Heartbeats.
func (s *Postgres) SilentFor(ctx context.Context, runID string, attempt int) (time.Duration, bool, error) {
	if fieldInt32("attempt", attempt) != nil {
		// Never heard (Heard refuses it), as SQLite answers: the driver
		// would refuse the statement.
		return 0, false, nil
	}
	var us int64
	err := pgLookup{s.pool}.QueryRow(ctx, `SELECT (EXTRACT(EPOCH FROM clock_timestamp() - at) * 1000000)::bigint FROM heartbeats WHERE run_id = $1 AND attempt = $2`, runID, attempt).Scan(&us)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return time.Duration(us) * time.Microsecond, true, nil
}

func scanPgToken(row pgx.Row) (*Token, error) {
	var t Token
	if err := row.Scan(&t.ID, &t.Tenant, &t.Hash, &t.Admin, &t.Note, &t.CreatedAt, &t.RevokedAt); err != nil {
		return nil, err
	}
	t.CreatedAt = t.CreatedAt.UTC()
	if t.RevokedAt != nil {
		r := t.RevokedAt.UTC()
		t.RevokedAt = &r
	}
	return &t, nil
}

// PutToken implements Tokens.
func (s *Postgres) PutToken(ctx context.Context, t *Token, rec audit.Record) (*Token, error) {
	out, err := s.PutTokens(ctx, []*Token{t}, []audit.Record{rec})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// PutTokens implements Tokens.
func (s *Postgres) PutTokens(ctx context.Context, ts []*Token, recs []audit.Record) ([]*Token, error) {
	if len(ts) != len(recs) {
		return nil, fmt.Errorf("add tokens: %d tokens but %d audit records", len(ts), len(recs))
	}
	if err := tokensText(ts, recs); err != nil {
		return nil, err
	}
	out := make([]*Token, len(ts))
	for i, t := range ts {
		nt := *t
		nt.ID = TokenID(t.Hash)
		nt.RevokedAt = nil
		out[i] = &nt
	}
	var head *audit.Entry
	err := s.tx(ctx, func(tx pgx.Tx) error {
		for _, nt := range out {
			if err := tx.QueryRow(ctx, `INSERT INTO tokens (`+tokenCols+`) VALUES ($1, $2, $3, $4, $5, now(), NULL) RETURNING created_at`,
				nt.ID, nt.Tenant, nt.Hash, nt.Admin, nt.Note).Scan(&nt.CreatedAt); err != nil {
				return fmt.Errorf("add token: %w", pgErr(err))
			}
		}
		var err error
		head, err = s.appendAudit(ctx, tx, time.Time{}, recs)
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, nt := range out {
		nt.CreatedAt = nt.CreatedAt.UTC()
	}
	s.notify(head)
	return out, nil
}

// TokenByHash implements Tokens.
func (s *Postgres) TokenByHash(ctx context.Context, h string) (*Token, error) {
	t, err := scanPgToken(pgLookup{s.pool}.QueryRow(ctx, `SELECT `+tokenCols+` FROM tokens WHERE hash = $1`, h))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	return t, err
}

// ListTokens implements Tokens.
func (s *Postgres) ListTokens(ctx context.Context) ([]*Token, error) {
	return s.listTokens(ctx, "tokens", `SELECT `+tokenCols+` FROM tokens ORDER BY created_at, id LIMIT $1`, maxTokens+1)
}

// TenantTokens implements Tokens.
func (s *Postgres) TenantTokens(ctx context.Context, after string, tenants int) ([]*Token, error) {
	if tenants < 1 {
		return nil, fmt.Errorf("tenant tokens: %d tenants: want 1 or more", tenants)
	}
	if !pgText(after) {
		return nil, fmt.Errorf("tenant tokens: after %q: %w", after, ErrNotText)
	}
	// In byte order (COLLATE "C"), as the caller sorts a page and takes
	// the next page's after from it: under the database's collation (a
	// locale's, which passes "-" by) a page and the next skipped tenants.
	return s.listTokens(ctx, fmt.Sprintf("tokens of %d tenants after %q", tenants, after), `SELECT `+tokenCols+` FROM tokens
		WHERE tenant IN (SELECT tenant FROM tokens WHERE tenant COLLATE "C" > $1 GROUP BY tenant ORDER BY tenant COLLATE "C" LIMIT $2)
		ORDER BY tenant COLLATE "C", created_at, id LIMIT $3`, after, tenants, maxTokens+1)
}

// listTokens is the tokens query selects (tokenCols), at most maxTokens
// of them (ErrTooMany, naming what, past it).
func (s *Postgres) listTokens(ctx context.Context, what, query string, args ...any) ([]*Token, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Token
	for rows.Next() {
		t, err := scanPgToken(rows)
		if err != nil {
			return nil, err
		}
		if out = append(out, t); len(out) > maxTokens {
			return nil, tooMany(what, maxTokens)
		}
	}
	return out, rows.Err()
}

// RevokeTokens implements Tokens.
func (s *Postgres) RevokeTokens(ctx context.Context, tenant, id string, rec audit.Record) (int, error) {
	var n int64
	var head *audit.Entry
	err := s.tx(ctx, func(tx pgx.Tx) error {
		q := `UPDATE tokens SET revoked_at = now() WHERE tenant = $1 AND revoked_at IS NULL`
		args := []any{tenant}
		if id != "" {
			q += ` AND id = $2`
			args = append(args, id)
		}
		// Locking the live admin tokens first makes revocations that
		// could take the last admin wait for one another: under READ
		// COMMITTED two of them would each still see the other's admin
		// live and both commit.
		rows, err := tx.Query(ctx, `SELECT id FROM tokens WHERE admin AND revoked_at IS NULL ORDER BY id FOR UPDATE`)
		if err != nil {
			return err
		}
		before := 0
		for rows.Next() {
			before++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		tag, err := pgLookup{tx}.Exec(ctx, q, args...)
		if err != nil {
			return err
		}
		if n = tag.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		var after int
		if err := tx.QueryRow(ctx, liveAdminsQuery).Scan(&after); err != nil {
			return err
		}
		if before > 0 && after == 0 {
			return ErrLastAdmin
		}
		head, err = s.appendAudit(ctx, tx, time.Time{}, []audit.Record{rec})
		return err
	})
	if err != nil {
		return 0, err
	}
	s.notify(head)
	return int(n), nil
}

var _ Store = (*Postgres)(nil)
var _ Store = (*SQLite)(nil)
