package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/internal/pgtest"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/store/storetest"
)

var testKey = store.Options{AuditKey: []byte("0123456789abcdef")}

func openSQLite(t *testing.T, path string) store.Store {
	t.Helper()
	s, err := store.OpenSQLite(context.Background(), path, testKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openPostgres(t *testing.T, url string) store.Store {
	t.Helper()
	s, err := store.OpenPostgres(context.Background(), url, testKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSQLiteConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openSQLite(t, filepath.Join(t.TempDir(), "m.db"))
	})
}

// TestSQLiteShared opens one database file twice, as two processes would.
func TestSQLiteShared(t *testing.T) {
	storetest.RunShared(t, func(t *testing.T) (store.Store, store.Store) {
		path := filepath.Join(t.TempDir(), "m.db")
		return openSQLite(t, path), openSQLite(t, path)
	})
}

func TestPostgresConformance(t *testing.T) {
	pgtest.ServerURL(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return openPostgres(t, pgtest.NewDatabase(t))
	})
}

// TestPostgresShared gives two pools on one database: two replicas.
func TestPostgresShared(t *testing.T) {
	pgtest.ServerURL(t)
	storetest.RunShared(t, func(t *testing.T) (store.Store, store.Store) {
		url := pgtest.NewDatabase(t)
		return openPostgres(t, url), openPostgres(t, url)
	})
}
