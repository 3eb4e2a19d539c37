package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"meridian.dev/meridian/internal/pgtest"
)

// sqliteMigratedTo is a new SQLite database file migrated up to version
// alone, as an older Meridian left one, and a handle on it: the upgrade
// tests write into it the rows that version allowed, close it, and open it
// as a store.
func sqliteMigratedTo(t *testing.T, version int64) (string, *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, mustSub(migrations, "migrations"))
	if err != nil {
		t.Fatal(err)
	}
	if version == 0 {
		return path, db // goose's UpTo refuses version 0: none to apply
	}
	if _, err := p.UpTo(context.Background(), version); err != nil {
		t.Fatal(err)
	}
	return path, db
}

// postgresMigratedTo is sqliteMigratedTo on PostgreSQL: a new database
// (its URL) migrated up to version alone, a handle on it, the migrations'
// provider (to go on from there), and a function closing the handle and
// its pool, before the database is opened as a store.
func postgresMigratedTo(tb testing.TB, version int64) (string, *sql.DB, *goose.Provider, func()) {
	tb.Helper()
	url := pgtest.NewDatabase(tb)
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		tb.Fatal(err)
	}
	db := stdlib.OpenDBFromPool(pool)
	done := func() { db.Close(); pool.Close() }
	p, err := goose.NewProvider(goose.DialectPostgres, db, mustSub(migrations, "migrations/postgres"))
	if err != nil {
		done()
		tb.Fatal(err)
	}
	if version == 0 {
		return url, db, p, done // goose's UpTo refuses version 0: none to apply
	}
	if _, err := p.UpTo(context.Background(), version); err != nil {
		done()
		tb.Fatal(err)
	}
	return url, db, p, done
}
