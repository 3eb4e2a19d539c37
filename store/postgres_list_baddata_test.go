package store

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"meridian.dev/meridian/internal/pgtest"
)

// queryCounter counts the statements a pool sends that read the runs
// table.
type queryCounter struct{ n atomic.Int64 }

func (c *queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if strings.Contains(d.SQL, " FROM runs") {
		c.n.Add(1)
	}
	return ctx
}

func (c *queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TestPostgresListBadDataOneQuery: a list without documents that meets a
// run whose data is not a JSON object reads it in one query, as it reads a
// list of good runs: such a row, until someone repairs it, must not double
// the cost of every list it is in (the tenant's pages, the sweep, the
// capacity order). Rows written before their data was marked as it was
// written, and a database that plans the list in parallel, too.
func TestPostgresListBadDataOneQuery(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	s0, err := OpenPostgres(ctx, url, Options{AuditKey: []byte("0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	defer s0.Close()
	cfg, err := postgresConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	var count queryCounter
	cfg.ConnConfig.Tracer = &count
	// Every plan that can be parallel is: the planner's choice on a large
	// table.
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		if _, err := c.Exec(ctx, `SET debug_parallel_query = on`); err != nil {
			_, err = c.Exec(ctx, `SET force_parallel_mode = on`)
			return err
		}
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s := &Postgres{pool: pool, chain: s0.chain}

	bad := []string{`{"state":"run`, `[1,2]`, `"documents"`, `42`, `null`, `{"a":1}}`, ``}
	for i := range len(bad) + 2 {
		r := &Run{ID: fmt.Sprintf("r%02d", i), Tenant: "a", State: "held", Data: []byte(`{"documents":[{"name":"job.yaml"}],"asOf":"2026-12-01"}`)}
		if _, _, err := s0.CreateRun(ctx, r, "", Change{}); err != nil {
			t.Fatal(err)
		}
	}
	for i, d := range bad {
		if _, err := s0.pool.Exec(ctx, `UPDATE runs SET data = $1 WHERE id = $2`, d, fmt.Sprintf("r%02d", i+1)); err != nil {
			t.Fatal(err)
		}
	}
	list := func(name string) {
		t.Helper()
		for _, o := range []ListOptions{{Tenant: "a", NoDocuments: true}, {AllTenants: true, States: []string{"held"}, NoDocuments: true, Limit: 100}} {
			before := count.n.Load()
			rs, err := s.ListRuns(ctx, o)
			if err != nil {
				t.Fatalf("%s: list %+v: %v", name, o, err)
			}
			if n := count.n.Load() - before; n != 1 {
				t.Errorf("%s: list %+v took %d queries, want 1", name, o, n)
			}
			if len(rs) != len(bad)+2 {
				t.Fatalf("%s: list %+v: %d runs", name, o, len(rs))
			}
			for i, r := range rs {
				if good := i == 0 || i == len(rs)-1; r.DataInvalid == good || good && string(r.Data) != `{"asOf": "2026-12-01"}` {
					t.Errorf("%s: run %s: %q, invalid %v", name, r.ID, r.Data, r.DataInvalid)
				}
			}
		}
	}
	list("written by the store or by hand")

	// Rows as a database migrated from before the mark holds them.
	for _, q := range []string{`ALTER TABLE runs DISABLE TRIGGER runs_data_object_update`, `UPDATE runs SET data_object = NULL`, `ALTER TABLE runs ENABLE TRIGGER runs_data_object_update`} {
		if _, err := s0.pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	list("not marked")

	// Data the store itself writes is marked by the store: an array is
	// not an object, read without a parse.
	for i, d := range []string{`{"asOf":"2026-12-01"}`, `[{"documents":1}]`, ` {"documents":[], "asOf":"2026-12-02"}`} {
		if _, _, err := s0.CreateRun(ctx, &Run{ID: fmt.Sprintf("b%d", i), Tenant: "b", State: "held", Data: []byte(d)}, "", Change{}); err != nil {
			t.Fatal(err)
		}
	}
	before := count.n.Load()
	rs, err := s.ListRuns(ctx, ListOptions{Tenant: "b", NoDocuments: true})
	if n := count.n.Load() - before; err != nil || n != 1 || len(rs) != 3 {
		t.Fatalf("tenant b: %d runs, %d queries, %v", len(rs), n, err)
	}
	if rs[0].DataInvalid || string(rs[0].Data) != `{"asOf": "2026-12-01"}` || !rs[1].DataInvalid || rs[1].Data != nil ||
		rs[2].DataInvalid || string(rs[2].Data) != `{"asOf": "2026-12-02"}` {
		for _, r := range rs {
			t.Errorf("tenant b: run %s: %q, invalid %v", r.ID, r.Data, r.DataInvalid)
		}
	}
}
