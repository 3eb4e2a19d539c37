package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/internal/pgtest"
	"meridian.dev/meridian/store"
)

// TestListBadRunData: a run row whose data is not a JSON object (written
// with the database's own tools) fails only itself in a list without
// documents: it is listed marked DataInvalid, with no data, and every
// other run is listed as usual, the same on both stores.
func TestListBadRunData(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) {
		s := openSQLite(t, filepath.Join(t.TempDir(), "m.db")).(*store.SQLite)
		listBadRunData(t, s, func(ctx context.Context, id, data string) error {
			_, err := s.DB().ExecContext(ctx, `UPDATE runs SET data = ? WHERE id = ?`, data, id)
			return err
		})
	})
	t.Run("Postgres", func(t *testing.T) {
		s := openPostgres(t, pgtest.NewDatabase(t)).(*store.Postgres)
		listBadRunData(t, s, func(ctx context.Context, id, data string) error {
			_, err := s.Pool().Exec(ctx, `UPDATE runs SET data = $1 WHERE id = $2`, data, id)
			return err
		})
	})
}

func listBadRunData(t *testing.T, s store.Store, write func(ctx context.Context, id, data string) error) {
	ctx := context.Background()
	bad := []string{`{"state":"run`, `[1,2,"documents"]`, `"documents"`, `42`, `null`, `{"a":1}}`, ``}
	n := len(bad) + 2
	for i := range n {
		r := &store.Run{ID: fmt.Sprintf("r%02d", i), Tenant: "a", State: "held",
			Data: []byte(`{"documents":[{"name":"job.yaml"}],"asOf":"2026-12-01"}`)}
		if _, _, err := s.CreateRun(ctx, r, "", store.Change{}); err != nil {
			t.Fatal(err)
		}
	}
	// The good runs are the first and the last; the bad ones between.
	for i, d := range bad {
		if err := write(ctx, fmt.Sprintf("r%02d", i+1), d); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range []store.ListOptions{
		{Tenant: "a", NoDocuments: true},
		{AllTenants: true, States: []string{"held"}, NoDocuments: true},
		{AllTenants: true, Active: true, Final: []string{"done"}, NoDocuments: true, Limit: n},
	} {
		rs, err := s.ListRuns(ctx, o)
		if err != nil {
			t.Fatalf("list %+v: %v: one bad row failed the whole list", o, err)
		}
		if len(rs) != n {
			t.Fatalf("list %+v: %d runs, want %d", o, len(rs), n)
		}
		for i, r := range rs {
			good := i == 0 || i == n-1
			if r.ID != fmt.Sprintf("r%02d", i) || r.DataInvalid == good {
				t.Errorf("list %+v: run %d is %s, invalid %v", o, i, r.ID, r.DataInvalid)
				continue
			}
			if !good {
				if r.Data != nil || r.State != "held" || r.Version != 1 {
					t.Errorf("list %+v: bad run %s: data %q, state %q, version %d", o, r.ID, r.Data, r.State, r.Version)
				}
				continue
			}
			var data map[string]any
			if err := json.Unmarshal(r.Data, &data); err != nil || data["asOf"] != "2026-12-01" || data["documents"] != nil {
				t.Errorf("list %+v: good run %s: %s %v", o, r.ID, r.Data, err)
			}
		}
	}
	// A tenant whose only bad run holds an array (which PostgreSQL's
	// jsonb can drop a key from without an error).
	for i, d := range []string{`{"asOf":"2026-12-01"}`, `[{"documents":1}]`} {
		id := fmt.Sprintf("b%d", i)
		if _, _, err := s.CreateRun(ctx, &store.Run{ID: id, Tenant: "b", State: "held", Data: []byte(`{}`)}, "", store.Change{}); err != nil {
			t.Fatal(err)
		}
		if err := write(ctx, id, d); err != nil {
			t.Fatal(err)
		}
	}
	if rs, err := s.ListRuns(ctx, store.ListOptions{Tenant: "b", NoDocuments: true}); err != nil || len(rs) != 2 ||
		rs[0].DataInvalid || string(rs[0].Data) != `{"asOf": "2026-12-01"}` && string(rs[0].Data) != `{"asOf":"2026-12-01"}` ||
		!rs[1].DataInvalid || rs[1].Data != nil {
		t.Errorf("tenant b: %v", err)
		for _, r := range rs {
			t.Logf("%s %q invalid %v", r.ID, r.Data, r.DataInvalid)
		}
	}
	// Read whole, a bad run's data is what the row holds.
	if got, err := s.GetRun(ctx, "r01"); err != nil || string(got.Data) != bad[0] || got.DataInvalid {
		t.Errorf("get r01: %v", err)
	}
}
