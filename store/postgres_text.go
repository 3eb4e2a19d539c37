package store

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// pgText reports whether PostgreSQL's text can hold each of vs: no NUL,
// and UTF-8. The database refuses a statement that carries one it cannot
// hold (invalid byte sequence, SQLSTATE 22021); SQLite keeps any bytes.
// Both stores refuse to write an idempotency key it refuses
// (ErrKeyNotText).
func pgText(vs ...string) bool {
	for _, v := range vs {
		if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
			return false
		}
	}
	return true
}

// pgTexts is vs without the values that pgText refuses, which match no
// row.
func pgTexts(vs []string) []string {
	if pgText(vs...) {
		return vs
	}
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		if pgText(v) {
			out = append(out, v)
		}
	}
	return out
}

// pgReader is the pool or a transaction.
type pgReader interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// pgLookup runs on r the statements whose text arguments are keys from
// requests (a run's id in a path, an idempotency key, a list's cursor, a
// dataset's name, a token's hash), each compared for equality: = $n for a
// string, = ANY($n) or <> ALL($n) for a []string. A key that PostgreSQL's
// text cannot hold (pgText) is one no row holds, on either store: the
// statement is not sent (the database would refuse it, and the lookup
// would be the server's failure), and answers as one that matched no row
// does. An element of a []string that it cannot hold is dropped, as it
// matches no row. Statements that write what they are given go to r
// itself: they must fail rather than find nothing.
type pgLookup struct{ r pgReader }

// keys is args with unholdable elements dropped from each []string, and
// false when a string argument cannot be held.
func (pgLookup) keys(args []any) ([]any, bool) {
	var out []any
	for i, a := range args {
		switch v := a.(type) {
		case string:
			if !pgText(v) {
				return nil, false
			}
		case []string:
			if held := pgTexts(v); len(held) < len(v) {
				if out == nil {
					out = append([]any(nil), args...)
				}
				out[i] = held
			}
		}
	}
	if out == nil {
		return args, true
	}
	return out, true
}

// QueryRow is r's, or a row that is not there.
func (l pgLookup) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	args, ok := l.keys(args)
	if !ok {
		return pgNoRow{}
	}
	return l.r.QueryRow(ctx, sql, args...)
}

// Query is r's, or no rows.
func (l pgLookup) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	args, ok := l.keys(args)
	if !ok {
		return pgNoRows{}, nil
	}
	return l.r.Query(ctx, sql, args...)
}

// Exec is r's, or a statement that changed no row (an UPDATE by key).
func (l pgLookup) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	args, ok := l.keys(args)
	if !ok {
		return pgconn.CommandTag{}, nil
	}
	return l.r.Exec(ctx, sql, args...)
}

// pgNoRow is a QueryRow that found nothing.
type pgNoRow struct{}

func (pgNoRow) Scan(...any) error { return pgx.ErrNoRows }

// pgNoRows is a Query that found nothing. It answers what reading rows
// calls; the embedded Rows (nil) stands for the rest of the interface.
type pgNoRows struct{ pgx.Rows }

func (pgNoRows) Close()                                       {}
func (pgNoRows) Err() error                                   { return nil }
func (pgNoRows) CommandTag() pgconn.CommandTag                { return pgconn.CommandTag{} }
func (pgNoRows) FieldDescriptions() []pgconn.FieldDescription { return nil }
func (pgNoRows) Next() bool                                   { return false }
func (pgNoRows) Scan(...any) error                            { return pgx.ErrNoRows }
func (pgNoRows) Values() ([]any, error)                       { return nil, pgx.ErrNoRows }
func (pgNoRows) RawValues() [][]byte                          { return nil }
