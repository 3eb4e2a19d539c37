package store

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/internal/pgtest"
)

// TestPostgresAuditCommitIsDurable: the anchor is moved onto a head once
// the commit that appended it returns. On a database set to
// synchronous_commit = off, that commit returned before its WAL was
// flushed, so a crash of the database lost entries the anchor already
// named, and each start after refused the log as cut. A transaction that
// appends to the log now commits with the local flush; one that does not
// keeps the database's setting.
func TestPostgresAuditCommitIsDurable(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET synchronous_commit = off', current_database()); END $$`); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	s, err := OpenPostgres(ctx, url, Options{AuditKey: []byte("0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	setting := func(appends bool) string {
		t.Helper()
		var got string
		err := s.tx(ctx, func(tx pgx.Tx) error {
			if appends {
				rec, err := audit.NewRecord(audit.KindState, "r1", 1)
				if err != nil {
					return err
				}
				if _, err := s.appendAudit(ctx, tx, time.Time{}, []audit.Record{rec}); err != nil {
					return err
				}
			}
			return tx.QueryRow(ctx, `SHOW synchronous_commit`).Scan(&got)
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := setting(false); got != "off" {
		t.Fatalf("the database's setting reads %q; the test needs off", got)
	}
	if got := setting(true); got == "off" {
		t.Errorf("a transaction appending to the audit log commits with synchronous_commit %s", got)
	}
	if res, err := s.VerifyAudit(ctx); err != nil || !res.OK || res.Entries != 1 {
		t.Fatalf("verify: %+v %v", res, err)
	}
}
