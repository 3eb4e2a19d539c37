package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestSQLiteResourceKeyTwinRefused: a registered resource next to a copy
// of its row written outside Meridian with its tenant, kind or name as
// bytes (a BLOB of the same bytes), which SQLite keeps under another key
// of the primary index. Every read of the resource (get, the tenant's
// lists, an update, a registration with a run) fails with ErrRowTwice,
// naming the table and the column, whatever the kind: before, it was
// refused as a row to store as text again, which the primary key then
// refused (the text row holds that key).
func TestSQLiteResourceKeyTwinRefused(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []string{"Dataset", "Organization", "Site", "Model"} {
		for _, col := range []string{"tenant", "kind", "name"} {
			t.Run(kind+"/"+col, func(t *testing.T) {
				s := openTest(t)
				doc := []byte(`{"kind":"` + kind + `","metadata":{"name":"d1"}}`)
				sum := sha256.Sum256(doc)
				r := &Resource{Tenant: "acme", Kind: kind, Name: "d1", Doc: doc, Hash: hex.EncodeToString(sum[:])}
				if _, err := s.PutResource(ctx, r, 0, rec(t, "resource", "", map[string]string{"name": "d1"})); err != nil {
					t.Fatal(err)
				}
				// Whoever writes the database may drop the triggers that
				// refuse the second row (migration 12); the reads still
				// refuse the pair.
				for _, tr := range []string{"resources_key_twin_insert", "resources_key_twin_update"} {
					if _, err := s.DB().ExecContext(ctx, `DROP TRIGGER `+tr); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := s.DB().ExecContext(ctx, twinInsert(col)); err != nil {
					t.Fatal(err)
				}
				want := func(what string, err error) {
					t.Helper()
					if !errors.Is(err, ErrRowTwice) || !strings.Contains(err.Error(), "resources") || !strings.Contains(err.Error(), col) || !strings.Contains(err.Error(), "BLOB") {
						t.Errorf("%s: %v; want ErrRowTwice naming resources and its %s", what, err, col)
					}
				}
				_, err := s.GetResource(ctx, "acme", kind, "d1")
				want("get", err)
				for _, k := range []string{"", kind} {
					_, err = s.ListResources(ctx, "acme", k)
					want(fmt.Sprintf("list of kind %q", k), err)
				}
				_, err = s.PutResource(ctx, r, 1, rec(t, "resource", "", map[string]string{"name": "d1"}))
				want("update", err)
				_, _, err = s.CreateRun(ctx, &Run{ID: "r1", Tenant: "acme", Job: "j", State: "planned", Data: []byte(`{}`)}, "",
					Change{Register: []Resource{*r}})
				want("registration with a run", err)
			})
		}
	}
}

// twinInsert is an INSERT of a copy of every resource row with col (tenant,
// kind or name) as a BLOB of the same bytes.
func twinInsert(col string) string {
	cols := map[string]string{"tenant": "tenant", "kind": "kind", "name": "name"}
	cols[col] = "CAST(" + col + " AS BLOB)"
	return fmt.Sprintf(`INSERT INTO resources (`+resourceCols+`)
		SELECT %s, %s, %s, doc, hash, store_key, version, created_at, updated_at FROM resources`, cols["tenant"], cols["kind"], cols["name"])
}

// TestSQLiteResourceKeyTwinNotWritten: a copy of a resource's row with
// its tenant, kind or name as a BLOB is refused when written (by an
// INSERT, or an UPDATE of another row's key), by a connection of its own
// as by hand; it was kept beside the row. A row whose key is a BLOB with
// no text twin, and Meridian's own writes, are let through.
func TestSQLiteResourceKeyTwinNotWritten(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	s, err := OpenSQLite(ctx, path, Options{AuditKey: []byte("test key 0123456")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, n := range []string{"d1", "d2"} {
		doc := []byte(`{"kind":"Dataset","metadata":{"name":"` + n + `"}}`)
		sum := sha256.Sum256(doc)
		if _, err := s.PutResource(ctx, &Resource{Tenant: "acme", Kind: "Dataset", Name: n, Doc: doc, Hash: hex.EncodeToString(sum[:])}, 0,
			rec(t, "resource", "", map[string]string{"name": n})); err != nil {
			t.Fatal(err)
		}
	}
	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	count := func() int {
		var n int
		if err := other.QueryRowContext(ctx, `SELECT COUNT(*) FROM resources`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, col := range []string{"tenant", "kind", "name"} {
		if _, err := other.ExecContext(ctx, twinInsert(col)); err == nil || !strings.Contains(err.Error(), "BLOB") {
			t.Errorf("a copy with its %s as a BLOB was written: %v", col, err)
		}
	}
	if _, err := other.ExecContext(ctx, `UPDATE resources SET name = CAST('d1' AS BLOB) WHERE name = 'd2'`); err == nil {
		t.Errorf("d2 renamed to d1 as a BLOB, beside d1")
	}
	// And the other way round: a BLOB key's row, then its text twin.
	if _, err := other.ExecContext(ctx, `UPDATE resources SET name = CAST(name AS BLOB) WHERE name = 'd2'`); err != nil {
		t.Fatalf("d2's name as a BLOB, no twin: %v", err)
	}
	if _, err := other.ExecContext(ctx, `INSERT INTO resources (`+resourceCols+`)
		SELECT tenant, kind, CAST(name AS TEXT), doc, hash, store_key, version, created_at, updated_at FROM resources WHERE typeof(name) = 'blob'`); err == nil {
		t.Errorf("a text twin of d2's BLOB row was written")
	}
	if n := count(); n != 2 {
		t.Errorf("%d resource rows, want 2", n)
	}
	// Meridian's own writes pass.
	doc := []byte(`{"kind":"Dataset","metadata":{"name":"d3"}}`)
	sum := sha256.Sum256(doc)
	r := &Resource{Tenant: "acme", Kind: "Dataset", Name: "d3", Doc: doc, Hash: hex.EncodeToString(sum[:])}
	if _, err := s.PutResource(ctx, r, 0, rec(t, "resource", "", map[string]string{"name": "d3"})); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutResource(ctx, r, 1, rec(t, "resource", "", map[string]string{"name": "d3"})); err != nil {
		t.Fatal(err)
	}
}

// TestSQLiteResourceKeyTwinMigrated: a database that holds a resource and
// its BLOB twin already is upgraded (the triggers of migration 12 check
// only the writes after them), and its reads then name the pair.
func TestSQLiteResourceKeyTwinMigrated(t *testing.T) {
	ctx := context.Background()
	path, db := sqliteMigratedTo(t, 11)
	if _, err := db.ExecContext(ctx, `INSERT INTO resources (`+resourceCols+`) VALUES ('acme', 'Dataset', 'd1', '{}', 'h', '', 1, ?1, ?1)`,
		"2026-06-01T12:00:00.000000000Z"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, twinInsert("name")); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := OpenSQLite(ctx, path, Options{AuditKey: []byte("test key 0123456")})
	if err != nil {
		t.Fatalf("a database holding a twin was not upgraded: %v", err)
	}
	defer s.Close()
	if _, err := s.GetResource(ctx, "acme", "Dataset", "d1"); !errors.Is(err, ErrRowTwice) {
		t.Errorf("get: %v, want ErrRowTwice", err)
	}
}
