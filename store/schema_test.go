package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"

	"meridian.dev/meridian/internal/pgtest"
	"meridian.dev/meridian/store"
)

// newerMigration is a migration no version of this binary has: what a
// newer Meridian leaves in the goose table of a database it migrated.
const newerMigration = 9999

// TestSQLiteRefusesNewerSchema: a database a newer binary migrated is
// refused, by name, rather than opened and written as if its schema were
// the one this binary knows.
func TestSQLiteRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	s, err := store.OpenSQLite(ctx, path, testKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO goose_db_version (version_id, is_applied) VALUES (?, 1)`, newerMigration); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = store.OpenSQLite(ctx, path, testKey)
	if err == nil {
		s.Close()
		t.Fatal("a database at a newer migration opened")
	}
	if !errors.Is(err, store.ErrSchemaNewer) {
		t.Fatalf("got %v, want ErrSchemaNewer", err)
	}
	t.Log(err)
}

func TestPostgresRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	s, err := store.OpenPostgres(ctx, url, testKey)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO goose_db_version (version_id, is_applied) VALUES ($1, true)`, newerMigration); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	s, err = store.OpenPostgres(ctx, url, testKey)
	if err == nil {
		s.Close()
		t.Fatal("a database at a newer migration opened")
	}
	if !errors.Is(err, store.ErrSchemaNewer) {
		t.Fatalf("got %v, want ErrSchemaNewer", err)
	}
	t.Log(err)
}
