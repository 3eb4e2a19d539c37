package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
)

// dropRunHoldTypeTriggers drops the triggers of SQLite migration 16, as
// whoever writes the database may: the limits' check must refuse the rows
// alone.
func dropRunHoldTypeTriggers(t testing.TB, db *sql.DB) {
	t.Helper()
	for _, tr := range []string{"runs_hold_type_insert", "runs_hold_type_update"} {
		if _, err := db.Exec(`DROP TRIGGER IF EXISTS ` + tr); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSQLiteRunHoldTypeNotWritten: a run's tenant, hold_site or
// hold_accelerator stored as anything but text, or its hold_pool or
// hold_count as anything but an integer, was written by any connection and
// refused only when a change's limits were next read. It is now refused
// when written, an insert or an update, naming the column; Meridian's own
// writes (a run created, held, updated, ended) pass.
func TestSQLiteRunHoldTypeNotWritten(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	hold := Hold{Site: "Site/a", Pool: 1, Accelerator: "h100", Count: 4}
	if _, _, err := s.CreateRun(ctx, &Run{ID: "r1", Tenant: "t", Job: "j", State: "running", Hold: hold, Data: []byte(`{}`)}, "k1", Change{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateRun(ctx, &Run{ID: "r2", Tenant: "t", Job: "j", State: "planned", Data: []byte(`{}`)}, "", Change{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateRun(ctx, "r1", func(r *Run) (Change, error) {
		r.State, r.Hold = "succeeded", Hold{}
		return Change{}, nil
	}); err != nil {
		t.Fatalf("Meridian's own update refused: %v", err)
	}
	if _, err := s.UpdateRun(ctx, "r2", func(r *Run) (Change, error) {
		r.State, r.Hold = "running", hold
		return Change{}, nil
	}); err != nil {
		t.Fatalf("Meridian's own update refused: %v", err)
	}
	ins := func(col, val string) string {
		cols := strings.Split(runCols, ", ")
		for i, c := range cols {
			switch c {
			case "id":
				cols[i] = "'x' || id"
			case col:
				cols[i] = val
			}
		}
		return `INSERT INTO runs (` + runCols + `) SELECT ` + strings.Join(cols, ", ") + ` FROM runs WHERE id = 'r2'`
	}
	for _, tc := range []struct{ col, q string }{
		{"tenant", ins("tenant", "CAST(tenant AS BLOB)")},
		{"hold_site", ins("hold_site", "CAST(hold_site AS BLOB)")},
		{"hold_accelerator", ins("hold_accelerator", "CAST(hold_accelerator AS BLOB)")},
		{"hold_pool", ins("hold_pool", "CAST(hold_pool AS BLOB)")},
		{"hold_pool", ins("hold_pool", "'1x'")},
		{"hold_count", ins("hold_count", "2.5")},
		{"hold_count", ins("hold_count", "CAST(hold_count AS BLOB)")},
		{"tenant", `UPDATE runs SET tenant = CAST(tenant AS BLOB) WHERE id = 'r2'`},
		{"hold_site", `UPDATE runs SET hold_site = CAST(hold_site AS BLOB) WHERE id = 'r2'`},
		{"hold_accelerator", `UPDATE runs SET hold_accelerator = CAST(hold_accelerator AS BLOB) WHERE id = 'r2'`},
		{"hold_pool", `UPDATE runs SET hold_pool = 1.5 WHERE id = 'r2'`},
		{"hold_pool", `UPDATE runs SET hold_pool = CAST(hold_pool AS BLOB) WHERE id = 'r2'`},
		{"hold_count", `UPDATE runs SET hold_count = 'four' WHERE id = 'r2'`},
	} {
		_, err := s.DB().ExecContext(ctx, tc.q)
		if err == nil || !strings.Contains(err.Error(), "runs: "+tc.col+" must be stored as") {
			t.Errorf("written (%v), want a refusal naming %s: %s", err, tc.col, tc.q)
		} else if testing.Verbose() {
			t.Log(err)
		}
	}
	var n int
	if err := s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM runs INDEXED BY runs_hold_type WHERE `+strings.SplitN(qRunHoldType, "WHERE ", 2)[1]).Scan(&n); err != nil || n != 0 {
		t.Errorf("runs stored as another type: %d, %v", n, err)
	}
	limit := Limit{Name: "pool 1 of Site/a", Site: "Site/a", Pool: 1, Max: 8}
	if _, _, err := s.CreateRun(ctx, &Run{ID: "r3", Tenant: "t", Job: "j", State: "running", Hold: hold, Data: []byte(`{}`)}, "", Change{Limits: []Limit{limit}}); err != nil {
		t.Errorf("a change with limits after the refusals: %v", err)
	}
}

// TestSQLiteRunHoldTypeMigrated: a database that holds a run whose
// tenant is stored as bytes already is upgraded (migration 16's triggers
// check only later writes); a change's limits then name it, as before.
func TestSQLiteRunHoldTypeMigrated(t *testing.T) {
	ctx := context.Background()
	path, db := sqliteMigratedTo(t, 15)
	if _, err := db.ExecContext(ctx, `INSERT INTO runs (`+runCols+`) VALUES ('r1', CAST('t' AS BLOB), 'j', 'running', '', 0, '', '{}', 1,
		'2026-06-01T12:00:00.000000000Z', '2026-06-01T12:00:00.000000000Z', 'Site/a', 0, 'h100', 4)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := OpenSQLite(ctx, path, Options{AuditKey: []byte("test key 0123456")})
	if err != nil {
		t.Fatalf("a database holding a run's tenant as bytes was not upgraded: %v", err)
	}
	defer s.Close()
	quota := Limit{Name: "quota of tenant t for h100", Tenants: []string{"t"}, Accelerators: []string{"h100"}, Max: 6}
	_, _, err = s.CreateRun(ctx, &Run{ID: "r2", Tenant: "t", Job: "j", State: "running", Hold: Hold{Site: "Site/a", Accelerator: "h100", Count: 4}, Data: []byte(`{}`)}, "", Change{Limits: []Limit{quota}})
	if !errors.Is(err, ErrFieldType) || !strings.Contains(err.Error(), "tenant") {
		t.Errorf("a change with limits beside run r1: %v, want ErrFieldType naming its tenant", err)
	}
}
