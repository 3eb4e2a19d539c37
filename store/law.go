package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"meridian.dev/meridian/audit"
)

// PutRuleRevision implements Store.
func (s *SQLite) PutRuleRevision(ctx context.Context, r *RuleRevision, after int64, rec audit.Record) (*RuleRevision, error) {
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
	err = s.tx(ctx, func(tx *sql.Tx) error {
		last, err := lastRuleRev(ctx, tx)
		if err != nil {
			return err
		}
		if last != after {
			return fmt.Errorf("rules revision %d came first: %w", last, ErrConflict)
		}
		now := s.now()
		out.Rev, out.CreatedAt = last+1, now
		if _, err := tx.ExecContext(ctx, `INSERT INTO rule_revisions (rev, hash, who, reason, created_at, listing, files) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			out.Rev, out.Hash, out.Who, out.Reason, fmtTime(now), string(listing), string(files)); err != nil {
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

// ListRuleRevisions implements Store. It reads the listing column, never
// the files: SQLite keeps a row's columns in the table's order, and the
// files come last (migration 7), so the columns before them are read
// without the pages of a revision's megabytes of rule files.
func (s *SQLite) ListRuleRevisions(ctx context.Context, after int64, limit int) ([]*RuleRevisionInfo, error) {
	if limit < 1 {
		return nil, fmt.Errorf("list rules revisions: limit %d, want at least 1", limit)
	}
	if _, err := lastRuleRev(ctx, s.db); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, qListRuleRevs, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*RuleRevisionInfo{}
	for rows.Next() {
		var r RuleRevisionInfo
		var rev any
		var hash, who, reason, ca, listing auditField
		if err := rows.Scan(&rev, &hash, &who, &reason, &ca, &listing); err != nil {
			return nil, err
		}
		// A real below the latest revision sorts among the integers.
		if r.Rev, err = ruleRevInt(ctx, s.db, rev); err != nil {
			return nil, err
		}
		if err := rowText("rule_revisions", strconv.FormatInt(r.Rev, 10), textCol{name: "hash", f: &hash}, textCol{name: "who", f: &who},
			textCol{name: "reason", f: &reason}, textCol{name: "created_at", f: &ca}, textCol{name: "listing", f: &listing}); err != nil {
			return nil, err
		}
		r.Hash, r.Who, r.Reason = hash.s, who.s, reason.s
		if r.Files, err = parseRuleListing(r.Rev, listing.s); err != nil {
			return nil, err
		}
		r.CreatedAt = parseTime(ca.s)
		out = append(out, &r)
	}
	return out, rows.Err()
}

// GetRuleRevision implements Store.
func (s *SQLite) GetRuleRevision(ctx context.Context, rev int64) (*RuleRevision, error) {
	var r RuleRevision
	var last any
	var hash, who, reason, files, ca auditField
	err := s.db.QueryRowContext(ctx, qGetRuleRev, rev).
		Scan(&r.Rev, &hash, &who, &reason, &ca, &files, &last)
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := lastRuleRev(ctx, s.db); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("rules revision %d: %w", rev, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	if _, err := ruleRevInt(ctx, s.db, last); err != nil {
		return nil, err
	}
	// A revision whose text is stored as bytes (a BLOB) was written
	// outside Meridian, as a row of the other tables is (rowText).
	if err := rowText("rule_revisions", strconv.FormatInt(r.Rev, 10), textCol{name: "hash", f: &hash}, textCol{name: "who", f: &who},
		textCol{name: "reason", f: &reason}, textCol{name: "created_at", f: &ca}, textCol{name: "files", f: &files}); err != nil {
		return nil, err
	}
	r.Hash, r.Who, r.Reason = hash.s, who.s, reason.s
	if err := json.Unmarshal([]byte(files.s), &r.Files); err != nil {
		return nil, fmt.Errorf("rules revision %d: %w", r.Rev, err)
	}
	r.CreatedAt = parseTime(ca.s)
	return &r, nil
}

// LastRuleRevision implements Store.
func (s *SQLite) LastRuleRevision(ctx context.Context) (int64, error) {
	return lastRuleRev(ctx, s.db)
}

const (
	qLastRuleRev  = `SELECT MAX(rev) FROM rule_revisions`
	qGetRuleRev   = `SELECT rev, hash, who, reason, created_at, files, (` + qLastRuleRev + `) FROM rule_revisions WHERE rev = ?`
	qListRuleRevs = `SELECT rev, hash, who, reason, created_at, listing FROM rule_revisions WHERE rev > ? ORDER BY rev LIMIT ?`
)

// lastRuleRev is the latest revision's number, 0 when there is none. rev
// is a BIGINT primary key, not SQLite's rowid: a rev stored as bytes (a
// BLOB), as text or as a real is kept as it is, under a key of its own,
// and a BLOB of a revision's digits sits beside that revision (read as
// the integer row by its number, listed twice). SQLite sorts every
// number before any text and text before any BLOB, so the largest value
// of the column is an integer only when no text or BLOB is there: one
// seek of the index tells, and each read of the law asks it first, so
// that a table holding such a row is refused as a whole (fail closed:
// which of the pair is the law is not the store's to say).
func lastRuleRev(ctx context.Context, q querier) (int64, error) {
	var v any
	if err := q.QueryRowContext(ctx, qLastRuleRev).Scan(&v); err != nil {
		return 0, err
	}
	if v == nil {
		return 0, nil
	}
	return ruleRevInt(ctx, q, v)
}

// ruleRevInt is v, a rev read back, when it is an integer; otherwise an
// error naming it, ErrRowTwice when it is bytes of a revision's number
// that is there as an integer too (one more seek, on the refusal alone).
func ruleRevInt(ctx context.Context, q querier, v any) (int64, error) {
	var typ, val string
	switch x := v.(type) {
	case int64:
		return x, nil
	case []byte:
		typ, val = "bytes (a BLOB)", string(x)
		n, perr := strconv.ParseInt(val, 10, 64)
		if perr != nil || strconv.FormatInt(n, 10) != val {
			break
		}
		var one int
		switch err := q.QueryRowContext(ctx, `SELECT 1 FROM rule_revisions WHERE rev = ?`, n).Scan(&one); {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return 0, err
		default:
			return 0, fmt.Errorf("rule_revisions row (rev %d): %w: one row has the rev as an integer, another the same rev stored as bytes (a BLOB), which SQLite keeps apart; no revision is read until the BLOB row is deleted (SELECT rowid FROM rule_revisions WHERE typeof(rev) = 'blob')",
				n, ErrRowTwice)
		}
	case string:
		typ, val = "text", x
	case float64:
		typ, val = "real", strconv.FormatFloat(x, 'g', -1, 64)
	default:
		typ, val = fmt.Sprintf("%T", v), fmt.Sprint(v)
	}
	return 0, fmt.Errorf("rule_revisions: a row's rev %q is stored as %s, not an integer: it was written outside Meridian, and no revision is read until it is deleted (SELECT rowid FROM rule_revisions WHERE typeof(rev) <> 'integer')", val, typ)
}

// ruleListing is the listing kept beside a revision's files: their names
// and sizes, in name order.
func ruleListing(files map[string]string) []RuleFileInfo {
	out := make([]RuleFileInfo, 0, len(files))
	for n, c := range files {
		out = append(out, RuleFileInfo{Name: n, Bytes: int64(len(c))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// parseRuleListing reads a revision's listing column.
func parseRuleListing(rev int64, s string) ([]RuleFileInfo, error) {
	var out []RuleFileInfo
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, fmt.Errorf("rules revision %d's listing: %w", rev, err)
	}
	if out == nil {
		out = []RuleFileInfo{}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// LawCheck implements Store.
func (s *SQLite) LawCheck(ctx context.Context) (int64, string, error) {
	var rev int64
	var day, at auditField
	err := s.db.QueryRowContext(ctx, `SELECT rev, day, checked_at FROM law_checks WHERE id = 1`).Scan(&rev, &day, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", err
	}
	if err := rowText("law_checks", "1", textCol{name: "day", f: &day}, textCol{name: "checked_at", f: &at}); err != nil {
		return 0, "", err
	}
	return rev, day.s, nil
}

// SetLawCheck implements Store.
func (s *SQLite) SetLawCheck(ctx context.Context, rev int64, day string, rec audit.Record) error {
	if err := fieldText("law check day", day); err != nil {
		return err
	}
	if err := auditText(rec); err != nil {
		return err
	}
	var head *audit.Entry
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if f, ok := FenceOf(ctx); ok {
			if err := s.checkFence(ctx, tx, f); err != nil {
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
