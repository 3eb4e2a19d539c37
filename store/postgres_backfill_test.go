package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"meridian.dev/meridian/internal/pgtest"
)

// waitMarker waits for s's backfill of the data mark to end and returns
// what it marked.
func waitMarker(t testing.TB, s *Postgres) int64 {
	t.Helper()
	if s.mark == nil {
		t.Fatal("the store started no backfill of the data mark")
	}
	<-s.mark.done
	if s.mark.err != nil {
		t.Fatalf("backfill: %v", s.mark.err)
	}
	return s.mark.marked
}

// unmarkRuns clears every run's data mark, as a database migrated from
// before the mark holds its runs.
func unmarkRuns(t testing.TB, pool *pgxpool.Pool) {
	t.Helper()
	for _, q := range []string{`ALTER TABLE runs DISABLE TRIGGER runs_data_object_update`, `UPDATE runs SET data_object = NULL`, `ALTER TABLE runs ENABLE TRIGGER runs_data_object_update`} {
		if _, err := pool.Exec(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
}

func unmarkedRuns(t testing.TB, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM runs WHERE data_object IS NULL`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// unmarkedStore opens a PostgreSQL store whose own backfill has run, holding
// runs runs whose data is not marked (as a database migrated from before
// the mark), with the SQL of sql run on it (a trigger that fails marks).
func unmarkedStore(t *testing.T, runs int, sql ...string) *Postgres {
	t.Helper()
	ctx := context.Background()
	s, err := OpenPostgres(ctx, pgtest.NewDatabase(t), Options{AuditKey: []byte("0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	waitMarker(t, s)
	for i := range runs {
		r := &Run{ID: fmt.Sprintf("r%03d", i), Tenant: "a", State: "held", Data: []byte(`{"asOf":"2026-12-01"}`)}
		if _, _, err := s.CreateRun(ctx, r, "", Change{}); err != nil {
			t.Fatal(err)
		}
	}
	unmarkRuns(t, s.pool)
	for _, q := range sql {
		if _, err := s.pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// TestPostgresMarkDataObjectsBackfill: runs written before migration 00010
// (their data not marked) are marked by the store after it opens, in
// batches of a bounded size, by two replicas at once without either
// failing, each mark what the trigger would write; a list without
// documents then reads them without the slower function.
func TestPostgresMarkDataObjectsBackfill(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	opts := Options{AuditKey: []byte("0123456789abcdef")}
	s0, err := OpenPostgres(ctx, url, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s0.Close()
	if n := waitMarker(t, s0); n != 0 {
		t.Fatalf("backfill of an empty database marked %d runs", n)
	}

	const runs = 57
	bad := map[int]string{3: `[1,2]`, 10: `{"state":"run`, 20: `42`, 44: ``}
	for i := range runs {
		r := &Run{ID: fmt.Sprintf("r%03d", i), Tenant: "a", State: "held", Data: []byte(`{"documents":[{"name":"job.yaml"}],"asOf":"2026-12-01"}`)}
		if _, _, err := s0.CreateRun(ctx, r, "", Change{}); err != nil {
			t.Fatal(err)
		}
	}
	for i, d := range bad {
		if _, err := s0.pool.Exec(ctx, `UPDATE runs SET data = $1 WHERE id = $2`, d, fmt.Sprintf("r%03d", i)); err != nil {
			t.Fatal(err)
		}
	}
	unmarkRuns(t, s0.pool)
	if n := unmarkedRuns(t, s0.pool); n != runs {
		t.Fatalf("%d runs unmarked, want %d", n, runs)
	}

	// One batch marks no more than its size.
	n, last, err := s0.markDataObjectBatch(ctx, "", 10)
	if err != nil || n != 10 || last != "r009" {
		t.Fatalf("batch of 10: marked %d, last %q, %v", n, last, err)
	}
	if u := unmarkedRuns(t, s0.pool); u != runs-10 {
		t.Fatalf("after a batch of 10: %d runs unmarked, want %d", u, runs-10)
	}

	// Two replicas' backfills at once mark the rest between them, once.
	var wg sync.WaitGroup
	var marked [2]int64
	var errs [2]error
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			marked[i], errs[i] = s0.markDataObjects(ctx, 3)
		}()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil || marked[0]+marked[1] != runs-10 {
		t.Fatalf("two backfills at once: marked %v, errors %v", marked, errs)
	}
	if u := unmarkedRuns(t, s0.pool); u != 0 {
		t.Fatalf("after the backfills: %d runs unmarked", u)
	}

	// A replica that opens the database marks what is not marked.
	unmarkRuns(t, s0.pool)
	s1, err := OpenPostgres(ctx, url, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Close()
	if n := waitMarker(t, s1); n != runs {
		t.Errorf("the backfill at open marked %d runs, want %d", n, runs)
	}
	if u := unmarkedRuns(t, s0.pool); u != 0 {
		t.Fatalf("after the backfill at open: %d runs unmarked", u)
	}
	var wrong []string
	rows, err := s0.pool.Query(ctx, `SELECT id FROM runs WHERE data_object IS DISTINCT FROM (meridian_list_data(data) IS NOT NULL) ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		wrong = append(wrong, id)
	}
	if rows.Close(); rows.Err() != nil || len(wrong) > 0 {
		t.Fatalf("runs marked otherwise than their data: %v %v", wrong, rows.Err())
	}

	// A list now never calls the slower function: one that fails is
	// never met, and the list is one query.
	cfg, err := postgresConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	var count queryCounter
	cfg.ConnConfig.Tracer = &count
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s := &Postgres{pool: pool, chain: s0.chain}
	if _, err := s0.pool.Exec(ctx, `CREATE OR REPLACE FUNCTION meridian_list_data(data TEXT) RETURNS TEXT
		LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL UNSAFE AS $$ BEGIN RAISE EXCEPTION 'slow path taken'; END $$`); err != nil {
		t.Fatal(err)
	}
	for _, o := range []ListOptions{{Tenant: "a", NoDocuments: true}, {AllTenants: true, States: []string{"held"}, NoDocuments: true, Limit: 100}} {
		before := count.n.Load()
		rs, err := s.ListRuns(ctx, o)
		if err != nil {
			t.Fatalf("list %+v: %v", o, err)
		}
		if n := count.n.Load() - before; n != 1 {
			t.Errorf("list %+v took %d queries, want 1", o, n)
		}
		if len(rs) != runs {
			t.Fatalf("list %+v: %d runs", o, len(rs))
		}
		for i, r := range rs {
			_, isBad := bad[i]
			if r.DataInvalid != isBad || !isBad && string(r.Data) != `{"asOf": "2026-12-01"}` {
				t.Errorf("run %s: %q, invalid %v", r.ID, r.Data, r.DataInvalid)
			}
		}
	}
}

// BenchmarkPostgresMarkDataObjects is the backfill of the data mark over
// 100,000 unmarked runs of 2 KiB of data each (a job's documents and its
// status), reported as runs marked per second.
func BenchmarkPostgresMarkDataObjects(b *testing.B) {
	ctx := context.Background()
	s, err := OpenPostgres(ctx, pgtest.NewDatabase(b), Options{AuditKey: []byte("0123456789abcdef")})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	waitMarker(b, s)
	const runs = 100000
	data := `{"documents":[{"name":"job.yaml","text":"` + strings.Repeat("x", 2000) + `"}],"state":"finished","asOf":"2026-12-01"}`
	if _, err := s.pool.Exec(ctx, `INSERT INTO runs (id, tenant, job, state, data, version, created_at, updated_at)
		SELECT 'r' || lpad(i::text, 7, '0'), 't' || (i % 50), 'j', 'finished', $1, 1, now(), now() FROM generate_series(1, $2) AS i`, data, runs); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var total int64
	for range b.N {
		b.StopTimer()
		unmarkRuns(b, s.pool)
		b.StartTimer()
		n, err := s.markDataObjects(ctx, markBatch)
		if err != nil || n != runs {
			b.Fatalf("marked %d, %v", n, err)
		}
		total += n
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "runs/s")
}

// TestPostgresMarkDataObjectsRetries: a batch of the backfill that fails
// (here a serialization failure, raised once by a trigger) is tried
// again, after a wait, and the backfill goes on to mark every run; one
// that fails every time waits longer each time, up to markRetryMax, and
// ends when the store's context does.
func TestPostgresMarkDataObjectsRetries(t *testing.T) {
	ctx := context.Background()
	const runs = 20
	// The sequence is not rolled back with the batch that fails: the
	// trigger fails the update of the first row it sees (in the second
	// batch), and no other.
	s := unmarkedStore(t, runs,
		`CREATE SEQUENCE test_mark_updates`,
		`CREATE FUNCTION test_mark_fail_once() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF nextval('test_mark_updates') = 4 THEN
				RAISE EXCEPTION 'could not serialize access' USING ERRCODE = '40001';
			END IF;
			RETURN NEW;
		END $$`,
		`CREATE TRIGGER test_mark_fail BEFORE UPDATE ON runs FOR EACH ROW EXECUTE FUNCTION test_mark_fail_once()`,
	)
	var waits []time.Duration
	s.markWait = func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		return ctx.Err()
	}
	n, err := s.markDataObjects(ctx, 3)
	if err != nil || n != runs {
		t.Fatalf("backfill with one failed batch: marked %d of %d, %v", n, runs, err)
	}
	if u := unmarkedRuns(t, s.pool); u != 0 {
		t.Fatalf("after the backfill: %d runs unmarked", u)
	}
	if len(waits) != 1 || waits[0] != markRetryMin {
		t.Errorf("waits before trying again: %v, want one of %v", waits, markRetryMin)
	}

	// A batch that always fails: the waits grow to the cap, and closing
	// the store (its context ending) ends the backfill.
	unmarkRuns(t, s.pool)
	if _, err := s.pool.Exec(ctx, `CREATE OR REPLACE FUNCTION test_mark_fail_once() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'could not serialize access' USING ERRCODE = '40001'; END $$`); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	waits = nil
	s.markWait = func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		if len(waits) == 12 {
			cancel()
		}
		return ctx.Err()
	}
	n, err = s.markDataObjects(cctx, 3)
	if !errors.Is(err, context.Canceled) || n != 0 {
		t.Fatalf("backfill failing until cancelled: marked %d, %v", n, err)
	}
	want := markRetryMin
	for i, d := range waits {
		if d != want {
			t.Fatalf("wait %d: %v, want %v (all: %v)", i, d, want, waits)
		}
		want = min(2*want, markRetryMax)
	}
	if len(waits) != 12 || waits[11] != markRetryMax {
		t.Fatalf("waits %v: want 12, the last at the cap %v", waits, markRetryMax)
	}
}

// TestPostgresMarkDataObjectsShrinksFailingBatch: a batch that fails
// whole every time (here a trigger refuses a transaction that marks more
// than two runs, as a statement timeout refuses a batch of runs whose
// data is large) is tried again smaller, and the backfill finishes.
func TestPostgresMarkDataObjectsShrinksFailingBatch(t *testing.T) {
	ctx := context.Background()
	const runs = 11
	s := unmarkedStore(t, runs,
		`CREATE FUNCTION test_mark_at_most_two() RETURNS trigger LANGUAGE plpgsql AS $$
		DECLARE n INT := coalesce(nullif(current_setting('test.marked', true), ''), '0')::int + 1;
		BEGIN
			PERFORM set_config('test.marked', n::text, true);
			IF n > 2 THEN
				RAISE EXCEPTION 'canceling statement due to statement timeout' USING ERRCODE = '57014';
			END IF;
			RETURN NEW;
		END $$`,
		`CREATE TRIGGER test_mark_two BEFORE UPDATE ON runs FOR EACH ROW EXECUTE FUNCTION test_mark_at_most_two()`,
	)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	waits := 0
	s.markWait = func(ctx context.Context, d time.Duration) error {
		if waits++; waits == 20 {
			cancel()
		}
		return ctx.Err()
	}
	n, err := s.markDataObjects(cctx, 8)
	if err != nil || n != runs {
		t.Fatalf("backfill whose batches of more than two fail: marked %d of %d after %d waits, %v", n, runs, waits, err)
	}
	if u := unmarkedRuns(t, s.pool); u != 0 {
		t.Fatalf("after the backfill: %d runs unmarked", u)
	}
}

// TestPostgresMarkDataObjectsPassesFailingRun: a run whose mark fails
// every time, in a batch of its own too, is passed by, and every run
// after it is marked.
func TestPostgresMarkDataObjectsPassesFailingRun(t *testing.T) {
	ctx := context.Background()
	const runs = 11
	s := unmarkedStore(t, runs,
		`CREATE FUNCTION test_mark_fail_r005() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.id = 'r005' THEN
				RAISE EXCEPTION 'canceling statement due to statement timeout' USING ERRCODE = '57014';
			END IF;
			RETURN NEW;
		END $$`,
		`CREATE TRIGGER test_mark_r005 BEFORE UPDATE ON runs FOR EACH ROW EXECUTE FUNCTION test_mark_fail_r005()`,
	)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	waits := 0
	s.markWait = func(ctx context.Context, d time.Duration) error {
		if waits++; waits == 30 {
			cancel()
		}
		return ctx.Err()
	}
	n, err := s.markDataObjects(cctx, 8)
	if err != nil || n != runs-1 {
		t.Fatalf("backfill with a run that always fails: marked %d of %d after %d waits, %v", n, runs-1, waits, err)
	}
	var unmarked []string
	rows, err := s.pool.Query(ctx, `SELECT id FROM runs WHERE data_object IS NULL ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		unmarked = append(unmarked, id)
	}
	if rows.Close(); rows.Err() != nil || len(unmarked) != 1 || unmarked[0] != "r005" {
		t.Fatalf("unmarked after the backfill: %v %v, want r005 alone", unmarked, rows.Err())
	}
}
