package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"meridian.dev/meridian/audit"
)

// PutRuleRevision implements Store.
func (s *SQLite) PutRuleRevision(ctx context.Context, r *RuleRevision, after int64, rec audit.Record) (*RuleRevision, error) {
	files, err := json.Marshal(r.Files)
	if err != nil {
		return nil, err
	}
	out := *r
	var head *audit.Entry
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var last int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(rev), 0) FROM rule_revisions`).Scan(&last); err != nil {
			return err
		}
		if last != after {
			return fmt.Errorf("rules revision %d came first: %w", last, ErrConflict)
		}
		now := s.now()
		out.Rev, out.CreatedAt = last+1, now
		if _, err := tx.ExecContext(ctx, `INSERT INTO rule_revisions (rev, hash, files, who, reason, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			out.Rev, out.Hash, string(files), out.Who, out.Reason, fmtTime(now)); err != nil {
			return err
		}
		head, err = s.appendAudit(ctx, tx, now, []audit.Record{rec})
		return err
	})
	if err != nil {
		return nil, err
	}
	s.notify(head)
	return &out, nil
}

// RuleRevisions implements Store.
func (s *SQLite) RuleRevisions(ctx context.Context) ([]*RuleRevision, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT rev, hash, files, who, reason, created_at FROM rule_revisions ORDER BY rev`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*RuleRevision
	for rows.Next() {
		var r RuleRevision
		var files, ca string
		if err := rows.Scan(&r.Rev, &r.Hash, &files, &r.Who, &r.Reason, &ca); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(files), &r.Files); err != nil {
			return nil, fmt.Errorf("rules revision %d: %w", r.Rev, err)
		}
		r.CreatedAt = parseTime(ca)
		out = append(out, &r)
	}
	return out, rows.Err()
}

// LawCheck implements Store.
func (s *SQLite) LawCheck(ctx context.Context) (int64, string, error) {
	var rev int64
	var day string
	err := s.db.QueryRowContext(ctx, `SELECT rev, day FROM law_checks WHERE id = 1`).Scan(&rev, &day)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", nil
	}
	return rev, day, err
}

// SetLawCheck implements Store.
func (s *SQLite) SetLawCheck(ctx context.Context, rev int64, day string, rec audit.Record) error {
	var head *audit.Entry
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if f, ok := FenceOf(ctx); ok {
			if err := checkFence(ctx, tx, f); err != nil {
				return err
			}
		}
		now := s.now()
		if _, err := tx.ExecContext(ctx, `INSERT INTO law_checks (id, rev, day, checked_at) VALUES (1, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET rev = excluded.rev, day = excluded.day, checked_at = excluded.checked_at`, rev, day, fmtTime(now)); err != nil {
			return err
		}
		var err error
		head, err = s.appendAudit(ctx, tx, now, []audit.Record{rec})
		return err
	})
	if err == nil {
		s.notify(head)
	}
	return err
}
