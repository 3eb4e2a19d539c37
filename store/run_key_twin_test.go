package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// wantRowTwice: err is ErrRowTwice naming the table and the BLOB.
func wantRowTwice(t *testing.T, what string, err error, table string) {
	t.Helper()
	if !errors.Is(err, ErrRowTwice) || !strings.Contains(err.Error(), table) || !strings.Contains(err.Error(), "BLOB") {
		t.Errorf("%s: %v; want ErrRowTwice naming %s and the BLOB", what, err, table)
	}
}

// TestSQLiteRunKeyTwinRefused: a run's row next to a copy written outside
// Meridian with its id as bytes (a BLOB of the same bytes, kept by SQLite
// under another key), saying another tenant and another state. GetRun,
// and the updates that read the run first, read the text row as if alone;
// the run is now ErrRowTwice, and another run is read as before.
func TestSQLiteRunKeyTwinRefused(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	for _, id := range []string{"r1", "r2"} {
		if _, _, err := s.CreateRun(ctx, &Run{ID: id, Tenant: "acme", Job: "j", State: "running", Data: []byte(`{}`)}, "", Change{}); err != nil {
			t.Fatal(err)
		}
	}
	dropRuleRevTriggers(t, s.DB())
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO runs (`+runCols+`) SELECT CAST(id AS BLOB), 'evil', job, 'succeeded', site, attempt, handle, data, version, created_at, updated_at,
		hold_site, hold_pool, hold_accelerator, hold_count FROM runs WHERE id = 'r1'`); err != nil {
		t.Fatal(err)
	}
	r, err := s.GetRun(ctx, "r1")
	if err == nil {
		t.Errorf("run r1 held twice read as tenant %q's, %s", r.Tenant, r.State)
	}
	wantRowTwice(t, "run r1", err, "runs")
	_, err = s.UpdateRun(ctx, "r1", func(r *Run) (Change, error) { r.State = "failed"; return Change{}, nil })
	wantRowTwice(t, "an update of run r1", err, "runs")
	if r, err := s.GetRun(ctx, "r2"); err != nil || r.Tenant != "acme" {
		t.Errorf("run r2: %+v, %v", r, err)
	}
	if _, err := s.GetRun(ctx, "r3"); !errors.Is(err, ErrNotFound) {
		t.Errorf("run r3: %v; want ErrNotFound", err)
	}
}

// TestSQLiteIdemKeyTwinRefused: an idempotency key's row next to a copy
// written outside Meridian with its key (or tenant) as bytes, naming
// another run. RunByKey and a retried submission used the text row's run
// as if alone; both now fail with ErrRowTwice, creating nothing.
func TestSQLiteIdemKeyTwinRefused(t *testing.T) {
	for _, col := range []string{"key", "tenant"} {
		t.Run(col, func(t *testing.T) {
			ctx := context.Background()
			s := openTest(t)
			for _, c := range []struct{ id, key string }{{"r1", "k1"}, {"r2", "k2"}} {
				if _, _, err := s.CreateRun(ctx, &Run{ID: c.id, Tenant: "acme", Job: "j", State: "running", Data: []byte(`{}`)}, c.key, Change{}); err != nil {
					t.Fatal(err)
				}
			}
			dropRuleRevTriggers(t, s.DB())
			if _, err := s.DB().ExecContext(ctx, `INSERT INTO idempotency_keys (tenant, key, run_id, created_at)
				SELECT `+map[string]string{"key": "tenant, CAST(key AS BLOB)", "tenant": "CAST(tenant AS BLOB), key"}[col]+`, 'r2', created_at FROM idempotency_keys WHERE key = 'k1'`); err != nil {
				t.Fatal(err)
			}
			r, err := s.RunByKey(ctx, "acme", "k1")
			if err == nil {
				t.Errorf("key k1 held twice names run %s", r.ID)
			}
			wantRowTwice(t, "the key's run", err, "idempotency_keys")
			r, created, err := s.CreateRun(ctx, &Run{ID: "r3", Tenant: "acme", Job: "j", State: "running", Data: []byte(`{}`)}, "k1", Change{})
			if err == nil {
				t.Errorf("a submission with key k1 held twice: run %s, created %v", r.ID, created)
			}
			wantRowTwice(t, "a submission with the key", err, "idempotency_keys")
			if r, err := s.RunByKey(ctx, "acme", "k2"); err != nil || r.ID != "r2" {
				t.Errorf("key k2: %+v, %v", r, err)
			}
		})
	}
}

// TestSQLiteEventKeyTwinRefused: a run's event written outside Meridian
// with its run_id as bytes was left out of the run's history without a
// word, beside an event of the same seq or alone; the run's events now
// fail naming it (ErrRowTwice for a pair).
func TestSQLiteEventKeyTwinRefused(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	if _, _, err := s.CreateRun(ctx, &Run{ID: "r1", Tenant: "acme", Job: "j", State: "running", Data: []byte(`{}`)}, "",
		Change{Events: []Event{{Kind: "created", To: "running"}}}); err != nil {
		t.Fatal(err)
	}
	evs, err := s.Events(ctx, "r1")
	if err != nil || len(evs) != 1 {
		t.Fatalf("events: %v, %v", evs, err)
	}
	dropRuleRevTriggers(t, s.DB())
	// A connection of its own, as SQLite opens one: foreign keys unchecked.
	conn, err := s.DB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`PRAGMA foreign_keys = OFF`, `INSERT INTO events (run_id, seq, time, kind, from_state, to_state, reason, data)
		SELECT CAST(run_id AS BLOB), seq, time, kind, 'running', 'succeeded', 'forged', data FROM events`, `PRAGMA foreign_keys = ON`} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close()
	_, err = s.Events(ctx, "r1")
	wantRowTwice(t, "the run's events", err, "events")
	if _, err := s.DB().ExecContext(ctx, `UPDATE events SET seq = seq + 1 WHERE typeof(run_id) = 'blob'`); err != nil {
		t.Fatal(err)
	}
	evs, err = s.EventsAfter(ctx, "r1", 0, 10)
	if err == nil || errors.Is(err, ErrRowTwice) || !strings.Contains(err.Error(), "run_id") || !strings.Contains(err.Error(), "BLOB") {
		t.Errorf("the run's events, one keyed as bytes: %d, %v; want an error naming the run_id", len(evs), err)
	}
}

// TestSQLiteRunKeyTwinNotWritten: a copy of a run, an idempotency key or
// an event with its key the other way (text, bytes) is refused when
// written; Meridian's own writes pass.
func TestSQLiteRunKeyTwinNotWritten(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	for _, c := range []struct{ id, key string }{{"r1", "k1"}, {"r2", "k2"}} {
		if _, _, err := s.CreateRun(ctx, &Run{ID: c.id, Tenant: "acme", Job: "j", State: "running", Data: []byte(`{}`)}, c.key,
			Change{Events: []Event{{Kind: "created", To: "running"}}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		`INSERT INTO runs (` + runCols + `) SELECT CAST(id AS BLOB), tenant, job, state, site, attempt, handle, data, version, created_at, updated_at,
			hold_site, hold_pool, hold_accelerator, hold_count FROM runs WHERE id = 'r1'`,
		`UPDATE runs SET id = CAST('r1' AS BLOB) WHERE id = 'r2'`,
		`INSERT INTO idempotency_keys (tenant, key, run_id, created_at) SELECT tenant, CAST(key AS BLOB), 'r2', created_at FROM idempotency_keys WHERE key = 'k1'`,
		`INSERT INTO idempotency_keys (tenant, key, run_id, created_at) SELECT CAST(tenant AS BLOB), key, 'r2', created_at FROM idempotency_keys WHERE key = 'k1'`,
		`UPDATE idempotency_keys SET key = CAST('k1' AS BLOB) WHERE key = 'k2'`,
		`INSERT INTO events (run_id, seq, time, kind) SELECT CAST(run_id AS BLOB), seq, time, kind FROM events WHERE run_id = 'r1'`,
		`UPDATE events SET run_id = CAST('r1' AS BLOB) WHERE run_id = 'r2'`,
	} {
		if _, err := s.DB().ExecContext(ctx, q); err == nil || !strings.Contains(err.Error(), "BLOB") {
			t.Errorf("written (%v): %s", err, q)
		}
	}
	if _, err := s.UpdateRun(ctx, "r1", func(r *Run) (Change, error) {
		r.State = "failed"
		return Change{Events: []Event{{Kind: "failed", From: "running", To: "failed"}}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if evs, err := s.Events(ctx, "r1"); err != nil || len(evs) != 2 {
		t.Errorf("events: %d, %v", len(evs), err)
	}
	if r, err := s.RunByKey(ctx, "acme", "k2"); err != nil || r.ID != "r2" {
		t.Errorf("key k2: %+v, %v", r, err)
	}
}

// TestSQLiteRunKeyReadsBounded: a run's read, its key's and its events'
// check stay seeks of the primary keys.
func TestSQLiteRunKeyReadsBounded(t *testing.T) {
	s := openTest(t)
	for _, q := range []struct {
		q    string
		args []any
	}{{qGetRun, []any{"r1"}}, {qIdemGet, []any{"acme", "k1"}}, {qBlobRunEvent, []any{"r1"}}} {
		p := sqlitePlan(t, s.DB(), q.q, q.args...)
		if strings.Contains(p, "SCAN") || !strings.Contains(p, "SEARCH") {
			t.Errorf("%s is not planned as seeks:\n%s", q.q, p)
		}
	}
}

// BenchmarkSQLiteRunKeyReads: a run's read by id and by idempotency key
// (each now counting the rows of its key read both ways), a run's events
// (one seek more, for an event keyed as bytes) and a submission with a
// key (the triggers' lookups on insert), and a page of 100 runs (two
// seeks more a run).
func BenchmarkSQLiteRunKeyReads(b *testing.B) {
	ctx := context.Background()
	s := openTest(b)
	for i := range 1000 {
		if _, _, err := s.CreateRun(ctx, &Run{ID: fmt.Sprintf("r%d", i), Tenant: "acme", Job: "j", State: "running", Data: []byte(`{"spec":{}}`)}, fmt.Sprintf("k%d", i),
			Change{Events: []Event{{Kind: "created", To: "running"}}}); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("GetRun", func(b *testing.B) {
		for i := range b.N {
			if _, err := s.GetRun(ctx, fmt.Sprintf("r%d", i%1000)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("RunByKey", func(b *testing.B) {
		for i := range b.N {
			if _, err := s.RunByKey(ctx, "acme", fmt.Sprintf("k%d", i%1000)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Events", func(b *testing.B) {
		for i := range b.N {
			if _, err := s.Events(ctx, fmt.Sprintf("r%d", i%1000)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("List100", func(b *testing.B) {
		for range b.N {
			if _, err := s.ListRuns(ctx, ListOptions{Tenant: "acme", Limit: 100, NoDocuments: true}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("CreateRun", func(b *testing.B) {
		for i := range b.N {
			if _, _, err := s.CreateRun(ctx, &Run{ID: fmt.Sprintf("n%d", i), Tenant: "acme", Job: "j", State: "running", Data: []byte(`{}`)}, fmt.Sprintf("n%d", i),
				Change{Events: []Event{{Kind: "created", To: "running"}}}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestSQLiteRunKeyTwinListed: a tenant's list of its runs, and the pass
// over every tenant's live runs, listed a run held twice (its id as text
// and as bytes) as if alone, or failed on the copy telling to store it
// as text again, which the primary key refuses; they now name the pair.
func TestSQLiteRunKeyTwinListed(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	for _, id := range []string{"r1", "r2"} {
		if _, _, err := s.CreateRun(ctx, &Run{ID: id, Tenant: "acme", Job: "j", State: "running", Data: []byte(`{}`)}, "", Change{}); err != nil {
			t.Fatal(err)
		}
	}
	dropRuleRevTriggers(t, s.DB())
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO runs (`+runCols+`) SELECT CAST(id AS BLOB), 'evil', job, 'succeeded', site, attempt, handle, data, version, created_at, updated_at,
		hold_site, hold_pool, hold_accelerator, hold_count FROM runs WHERE id = 'r1'`); err != nil {
		t.Fatal(err)
	}
	for _, o := range []ListOptions{{Tenant: "acme"}, {Tenant: "evil"}, {Tenant: "acme", NoDocuments: true}, {AllTenants: true, Limit: 10}} {
		rs, err := s.ListRuns(ctx, o)
		if err == nil {
			t.Errorf("list %+v: %d runs, no error", o, len(rs))
		}
		wantRowTwice(t, fmt.Sprintf("list %+v", o), err, "runs")
	}
}
