package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"

	"meridian.dev/meridian/audit"
)

// AuditReader reads a SQLite database's audit log without writing to it:
// no migration, no schema, no append. Commands that only look (a dry run
// asking the law, which counts what the ledger says was exported) use it,
// so that looking leaves the state directory as it was.
type AuditReader struct{ db *sql.DB }

// ErrReadOnly is returned by AuditReader's AppendAudit.
var ErrReadOnly = errors.New("audit log opened read-only")

// OpenAuditReader opens the existing database at path for queries only; a
// missing file is an error, not a new database.
//
// Which connection depends on what lies beside the database. Without a
// WAL (a server that closed cleanly, or none running), it is not SQLite's
// read-only mode (mode=ro): that cannot remove the WAL and shared-memory
// files it has to create beside a WAL database, and would leave them
// behind; query_only refuses every change to the database, and the last
// connection to close removes those files as it found them absent. With a
// WAL (a server running, or one killed with entries not yet checkpointed),
// it is mode=ro: a connection that can write checkpoints the WAL into the
// database as it closes, which would change the database's file; a
// read-only one reads the WAL's entries and leaves both files as they were
// (the shared-memory index beside them may be rebuilt).
func OpenAuditReader(ctx context.Context, path string) (*AuditReader, error) {
	mode := "mode=rw&_pragma=query_only(1)"
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Mode().IsRegular() {
		mode = "mode=ro"
	}
	db, err := sql.Open("sqlite", fileURI(path)+"?"+mode+"&_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &AuditReader{db: db}, nil
}

// AuditSelect returns the entries q selects, in seq order.
func (r *AuditReader) AuditSelect(ctx context.Context, q AuditQuery) ([]audit.Entry, error) {
	query, args, err := auditSelect(q, func(int) string { return "?" })
	if err != nil {
		return nil, err
	}
	rows, err := r.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanAuditOf(rows, q)
}

// VerifyAudit verifies the whole log with c against anchors (see
// audit.Chain.VerifyAnchored), as SQLite.VerifyAuditAnchored does, without
// writing: `audit verify --state` uses it. The reader applies no
// migration, so a database an older version left is read as it is: an
// audit table without the tenant and version columns holds version 1
// entries of no tenant (the defaults the migration adding them gives), and
// a database without the audit table holds no log.
func (r *AuditReader) VerifyAudit(ctx context.Context, c *audit.Chain, anchors *audit.Anchors) (audit.Result, error) {
	// One transaction reads the columns and the log in one snapshot,
	// however many writers (a migrating server) go on beside it.
	return c.VerifySnapshot(sqlAuditSnapshot(ctx, r.db, func(tx *sql.Tx) (string, bool, error) {
		cols, err := auditColumns(ctx, tx)
		if err != nil || !cols["seq"] {
			return "", false, err
		}
		tenant, version := "tenant", "version"
		if !cols["tenant"] {
			tenant = "''"
		}
		if !cols["version"] {
			version = "1"
		}
		return "seq, time, kind, run_id, payload, prev_hash, hash, " + tenant + ", " + version, true, nil
	}), anchors)
}

// auditColumns names the audit table's columns (none when there is no
// such table).
func auditColumns(ctx context.Context, tx *sql.Tx) (map[string]bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name FROM pragma_table_info('audit')`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		cols[name] = true
	}
	return cols, rows.Err()
}

// AppendAudit refuses: the reader writes nothing.
func (r *AuditReader) AppendAudit(context.Context, ...audit.Record) error { return ErrReadOnly }

// Close closes the database.
func (r *AuditReader) Close() error { return r.db.Close() }
