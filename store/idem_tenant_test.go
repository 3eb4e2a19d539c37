package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/internal/pgtest"
	"meridian.dev/meridian/store"
)

// testKeyOfAnotherTenant: an idempotency key's row names its run by id
// alone. One changed by hand to name another tenant's run hands that run
// to nobody: neither a lookup by the key nor a retried creation with it
// returns it.
func testKeyOfAnotherTenant(t *testing.T, s store.Store, exec func(q string) error) {
	ctx := context.Background()
	for _, r := range []struct{ id, tenant, key string }{{"ra", "a", "ka"}, {"rb", "b", "kb"}} {
		if _, _, err := s.CreateRun(ctx, &store.Run{ID: r.id, Tenant: r.tenant, Job: "j", State: "planned", Data: []byte(`{"secret":"` + r.tenant + `"}`)}, r.key, store.Change{}); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.RunByKey(ctx, "b", "kb"); err != nil || got.ID != "rb" {
		t.Fatalf("b's key: %v, %v", got, err)
	}
	if err := exec(`UPDATE idempotency_keys SET run_id = 'ra' WHERE tenant = 'b'`); err != nil {
		t.Fatal(err)
	}
	if got, err := s.RunByKey(ctx, "b", "kb"); err == nil {
		t.Errorf("b's key, changed to name a's run, returned run %s of tenant %s", got.ID, got.Tenant)
	}
	got, created, err := s.CreateRun(ctx, &store.Run{ID: "rb2", Tenant: "b", Job: "j", State: "planned", Data: []byte(`{}`)}, "kb", store.Change{})
	if err == nil {
		t.Errorf("a creation retried with b's key, changed to name a's run, returned run %s of tenant %s (created %v)", got.ID, got.Tenant, created)
	}
}

func TestSQLiteKeyOfAnotherTenant(t *testing.T) {
	s := openSQLite(t, filepath.Join(t.TempDir(), "m.db")).(*store.SQLite)
	testKeyOfAnotherTenant(t, s, func(q string) error {
		_, err := s.DB().Exec(q)
		return err
	})
}

func TestPostgresKeyOfAnotherTenant(t *testing.T) {
	s := openPostgres(t, pgtest.NewDatabase(t)).(*store.Postgres)
	testKeyOfAnotherTenant(t, s, func(q string) error {
		_, err := s.Pool().Exec(context.Background(), q)
		return err
	})
}
