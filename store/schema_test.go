package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
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

// openTogether opens the database that open opens n times at once, as
// processes started together do (a server and a command that opens its
// state directory, or replicas), and fails the test for each open that
// failed.
func openTogether(t *testing.T, n int, open func() (store.Store, error)) {
	t.Helper()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s, err := open()
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("open %d of %d at once: %v", i+1, n, err)
		}
	}
}

// TestSQLiteOpenedTogether: processes that open one new (or older)
// database at once each migrate it, or find it migrated: none fails on
// a migration that another applied after it read the schema's version.
func TestSQLiteOpenedTogether(t *testing.T) {
	for round := range 10 {
		path := filepath.Join(t.TempDir(), fmt.Sprintf("m%d.db", round))
		openTogether(t, 4, func() (store.Store, error) { return store.OpenSQLite(context.Background(), path, testKey) })
	}
}

// TestPostgresOpenedTogether: replicas that start together on one new
// database migrate it once, each in turn.
func TestPostgresOpenedTogether(t *testing.T) {
	url := pgtest.NewDatabase(t)
	openTogether(t, 4, func() (store.Store, error) { return store.OpenPostgres(context.Background(), url, testKey) })
}
