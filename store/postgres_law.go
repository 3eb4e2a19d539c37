package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"meridian.dev/meridian/audit"
)

// PutRuleRevision implements Store. Two replicas applying rules at once
// both read the same last revision; the second insert of the next number
// is a unique violation, which is ErrConflict.
func (s *Postgres) PutRuleRevision(ctx context.Context, r *RuleRevision, after int64, rec audit.Record) (*RuleRevision, error) {
	if err := ruleRevisionText(r, rec); err != nil {
		return nil, err
	}
	files, err := json.Marshal(r.Files)
	if err != nil {
		return nil, err
	}
	listing, err := json.Marshal(ruleListing(r.Files))
	if err != nil {
		return nil, err
	}
	out := *r
	var head *audit.Entry
	err = s.tx(ctx, func(tx pgx.Tx) error {
		var last int64
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(rev), 0) FROM rule_revisions`).Scan(&last); err != nil {
			return err
		}
		if last != after {
			return fmt.Errorf("rules revision %d came first: %w", last, ErrConflict)
		}
		out.Rev = last + 1
		if err := tx.QueryRow(ctx, `INSERT INTO rule_revisions (rev, hash, files, who, reason, created_at, listing) VALUES ($1, $2, $3, $4, $5, now(), $6) RETURNING created_at`,
			out.Rev, out.Hash, string(files), out.Who, out.Reason, string(listing)).Scan(&out.CreatedAt); err != nil {
			return pgErr(err)
		}
		head, err = s.appendAudit(ctx, tx, time.Time{}, []audit.Record{rec})
		return err
	})
	if err != nil {
		return nil, err
	}
	out.CreatedAt = out.CreatedAt.UTC()
	s.notify(head)
	return &out, nil
}

// ListRuleRevisions implements Store. It reads the listing column, never
// the files: PostgreSQL keeps a large value apart from its row (TOAST),
// and a query that does not name it does not read it.
func (s *Postgres) ListRuleRevisions(ctx context.Context, after int64, limit int) ([]*RuleRevisionInfo, error) {
	if limit < 1 {
		return nil, fmt.Errorf("list rules revisions: limit %d, want at least 1", limit)
	}
	rows, err := s.pool.Query(ctx, `SELECT rev, hash, who, reason, created_at, listing FROM rule_revisions WHERE rev > $1 ORDER BY rev LIMIT $2`, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*RuleRevisionInfo{}
	for rows.Next() {
		var r RuleRevisionInfo
		var listing string
		if err := rows.Scan(&r.Rev, &r.Hash, &r.Who, &r.Reason, &r.CreatedAt, &listing); err != nil {
			return nil, err
		}
		if r.Files, err = parseRuleListing(r.Rev, listing); err != nil {
			return nil, err
		}
		r.CreatedAt = r.CreatedAt.UTC()
		out = append(out, &r)
	}
	return out, rows.Err()
}

// GetRuleRevision implements Store.
func (s *Postgres) GetRuleRevision(ctx context.Context, rev int64) (*RuleRevision, error) {
	var r RuleRevision
	var files string
	err := s.pool.QueryRow(ctx, `SELECT rev, hash, who, reason, created_at, files FROM rule_revisions WHERE rev = $1`, rev).
		Scan(&r.Rev, &r.Hash, &r.Who, &r.Reason, &r.CreatedAt, &files)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("rules revision %d: %w", rev, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(files), &r.Files); err != nil {
		return nil, fmt.Errorf("rules revision %d: %w", r.Rev, err)
	}
	r.CreatedAt = r.CreatedAt.UTC()
	return &r, nil
}

// LastRuleRevision implements Store.
func (s *Postgres) LastRuleRevision(ctx context.Context) (int64, error) {
	var last int64
	err := s.pool.QueryRow(ctx, `SELECT COALESCE(MAX(rev), 0) FROM rule_revisions`).Scan(&last)
	return last, err
}

// LawCheck implements Store.
func (s *Postgres) LawCheck(ctx context.Context) (int64, string, error) {
	var rev int64
	var day string
	err := s.pool.QueryRow(ctx, `SELECT rev, day FROM law_checks WHERE id = 1`).Scan(&rev, &day)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, "", nil
	}
	return rev, day, err
}

// SetLawCheck implements Store.
func (s *Postgres) SetLawCheck(ctx context.Context, rev int64, day string, rec audit.Record) error {
	if err := fieldText("law check day", day); err != nil {
		return err
	}
	if err := auditText(rec); err != nil {
		return err
	}
	var head *audit.Entry
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO law_checks (id, rev, day, checked_at) VALUES (1, $1, $2, now())
			ON CONFLICT (id) DO UPDATE SET rev = EXCLUDED.rev, day = EXCLUDED.day, checked_at = EXCLUDED.checked_at`, rev, day); err != nil {
			return err
		}
		var err error
		if head, err = s.appendAudit(ctx, tx, time.Time{}, []audit.Record{rec}); err != nil {
			return err
		}
		if f, ok := FenceOf(ctx); ok {
			return pgCheckFence(ctx, tx, f, true)
		}
		return nil
	})
	if err == nil {
		s.notify(head)
	}
	return err
}
