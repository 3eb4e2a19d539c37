package store

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"meridian.dev/meridian/internal/pgtest"
)

// TestPostgresMigrationSession: migrations run without the store's 60 s
// statement timeout (a migration of a large database may take longer, and
// failed every start) and with a bounded lock wait, whatever the URL set
// for the store's own statements; the idle timeout stays.
func TestPostgresMigrationSession(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t) + "&statement_timeout=1234&lock_timeout=0"
	s, err := OpenPostgres(ctx, url, Options{AuditKey: []byte("0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, u := range []string{url, pgtest.NewDatabase(t)} {
		cfg, err := postgresConfig(u)
		if err != nil {
			t.Fatal(err)
		}
		migrationSettings(t, migrationDB(cfg))
	}
	// The store's own statements keep the URL's.
	var got string
	if err := s.pool.QueryRow(ctx, "SHOW statement_timeout").Scan(&got); err != nil || got != "1234ms" {
		t.Errorf("the store's statement_timeout is %q (%v), want the URL's 1234ms", got, err)
	}
}

func migrationSettings(t *testing.T, db *sql.DB) {
	t.Helper()
	ctx := context.Background()
	defer db.Close()
	for name, want := range map[string]string{"statement_timeout": "0", "lock_timeout": "10s", "idle_in_transaction_session_timeout": "2s"} {
		var got string
		if err := db.QueryRowContext(ctx, "SHOW "+name).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("migrations' %s is %s, want %s", name, got, want)
		}
	}
}

// TestPostgresMigrationOutlastsStatementTimeout: a migration that takes
// longer than the store's statement timeout (here it waits on a table
// another session locked: a migration of a large database takes as long
// working) completes, and the store opens.
func TestPostgresMigrationOutlastsStatementTimeout(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	url := db + "&statement_timeout=1000"
	s, err := OpenPostgres(ctx, url, Options{AuditKey: []byte("0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	// Back to before migration 00008, which reads the runs table.
	for _, q := range []string{`DROP INDEX runs_hold_key`, `ALTER TABLE runs DROP COLUMN hold_key`, `DROP FUNCTION meridian_hold_key(TEXT)`, `DROP TABLE rekey_clashes`, `DROP TABLE rekeys`, `DROP STATISTICS audit_tenant_kind_stats`, `DROP INDEX audit_tenant_kind`, `DROP INDEX runs_tenant_live`, `DROP INDEX resources_store`, `CREATE UNIQUE INDEX resources_store ON resources (store_key) WHERE store_key <> ''`,
		`DROP FUNCTION meridian_store_key_digest(TEXT)`, `DROP INDEX audit_hash`, `DROP TRIGGER runs_data_object_update ON runs`, `DROP TRIGGER runs_data_object_insert ON runs`,
		`DROP FUNCTION meridian_runs_data_object()`, `ALTER TABLE runs DROP COLUMN data_object`,
		`DROP TABLE run_order`, `DROP FUNCTION meridian_list_data(TEXT)`, `DELETE FROM goose_db_version WHERE version_id IN (8, 9, 10, 11, 12, 13, 14, 15, 16)`} {
		if _, err := s.pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	holder, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(ctx)
	watch, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close(ctx)
	tx, err := holder.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `LOCK TABLE runs IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	opened := make(chan error, 1)
	go func() {
		s, err := OpenPostgres(ctx, url, Options{AuditKey: []byte("0123456789abcdef")})
		if err == nil {
			s.Close()
		}
		opened <- err
	}()
	// The lock is held until the migration has waited on it for longer
	// than the URL's statement timeout, as the database tells.
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-opened:
			t.Fatalf("the store opened (%v) before the migration had waited past the statement timeout", err)
		default:
		}
		var n int
		if err := watch.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
			AND wait_event_type = 'Lock' AND query_start < clock_timestamp() - interval '1500 milliseconds'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the migration never waited on the lock")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-opened; err != nil {
		t.Fatalf("open after a migration longer than the statement timeout: %v", err)
	}
}
