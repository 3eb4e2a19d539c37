package store_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/internal/pgtest"
	"meridian.dev/meridian/store"
)

// testTenantUID: a tenant's workloads run as the user id the tenants
// table records, a table outside the audit chain. A row changed by hand to
// give a tenant root's id, an id past what a Unix user id holds, or
// another tenant's id (the unique index dropped) is refused, not handed
// to a site; ids the store gave are still returned.
func testTenantUID(t *testing.T, s store.Store, exec func(q string) error) {
	ctx := context.Background()
	const base = 3000000
	for i, tenant := range []string{"a", "b", "c"} {
		uid, err := s.TenantUID(ctx, tenant, base)
		if err != nil || uid != base+i {
			t.Fatalf("tenant %s: uid %d, %v; want %d", tenant, uid, err, base+i)
		}
	}
	if err := exec(`UPDATE tenants SET uid = 0 WHERE name = 'a'`); err != nil {
		t.Fatal(err)
	}
	if uid, err := s.TenantUID(ctx, "a", base); err == nil || !strings.Contains(err.Error(), "changed outside Meridian") {
		t.Errorf("a tenant whose recorded uid was set to root's: uid %d, %v; want refused", uid, err)
	}
	if err := exec(`UPDATE tenants SET uid = 2147483647 WHERE name = 'a'`); err != nil {
		t.Fatal(err)
	}
	// The highest id there is: still refused a new tenant past it,
	// rather than wrapped.
	if uid, err := s.TenantUID(ctx, "d", base); err == nil {
		t.Errorf("a new tenant after one at 2^31-1 was given uid %d", uid)
	}
	// Two tenants with one id: the unique index dropped, then b's id given
	// to c.
	if err := exec(`UPDATE tenants SET uid = 3000000 WHERE name = 'a'`); err != nil {
		t.Fatal(err)
	}
	if err := dropUIDUnique(exec); err != nil {
		t.Fatal(err)
	}
	if err := exec(`UPDATE tenants SET uid = 3000001 WHERE name = 'c'`); err != nil {
		t.Fatal(err)
	}
	for _, tenant := range []string{"b", "c"} {
		if uid, err := s.TenantUID(ctx, tenant, base); err == nil {
			t.Errorf("tenant %s holding another tenant's uid was given %d", tenant, uid)
		}
	}
	if uid, err := s.TenantUID(ctx, "a", base); err != nil || uid != base {
		t.Errorf("tenant a put back at its own uid: %d, %v; want %d", uid, err, base)
	}
}

// dropUIDUnique drops the tenants table's unique constraint on uid: on
// SQLite by rebuilding the table, on PostgreSQL by dropping it.
func dropUIDUnique(exec func(q string) error) error {
	if err := exec(`ALTER TABLE tenants DROP CONSTRAINT tenants_uid_key`); err == nil {
		return nil
	}
	for _, q := range []string{
		`CREATE TABLE tenants_copy (name TEXT PRIMARY KEY, uid INTEGER NOT NULL, created_at TEXT NOT NULL)`,
		`INSERT INTO tenants_copy SELECT name, uid, created_at FROM tenants`,
		`DROP TABLE tenants`,
		`ALTER TABLE tenants_copy RENAME TO tenants`,
	} {
		if err := exec(q); err != nil {
			return err
		}
	}
	return nil
}

func TestSQLiteTenantUIDHandEdited(t *testing.T) {
	s := openSQLite(t, filepath.Join(t.TempDir(), "m.db")).(*store.SQLite)
	testTenantUID(t, s, func(q string) error {
		_, err := s.DB().Exec(q)
		return err
	})
}

func TestPostgresTenantUIDHandEdited(t *testing.T) {
	s := openPostgres(t, pgtest.NewDatabase(t)).(*store.Postgres)
	testTenantUID(t, s, func(q string) error {
		_, err := s.Pool().Exec(context.Background(), q)
		return err
	})
}
