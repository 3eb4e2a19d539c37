package store

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"meridian.dev/meridian/internal/pgtest"
)

// statementLog keeps the statements a pool sends.
type statementLog struct {
	mu  sync.Mutex
	sql []string
}

func (l *statementLog) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	l.mu.Lock()
	l.sql = append(l.sql, d.SQL)
	l.mu.Unlock()
	return ctx
}

func (l *statementLog) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (l *statementLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.sql
	l.sql = nil
	return out
}

// TestPostgresRunWriteStatements: a run's creation and update each send
// the database no statement beyond their writes (the mark of the run's
// data is given in the write itself), the runs table's trigger never
// parses the data the store marked, and the mark is what the data is.
func TestPostgresRunWriteStatements(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	s0, err := OpenPostgres(ctx, url, Options{AuditKey: []byte("0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	defer s0.Close()
	waitMarker(t, s0)
	cfg, err := postgresConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	var log statementLog
	cfg.ConnConfig.Tracer = &log
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	// Announcements are queued, and not sent: they are not the write's.
	s := &Postgres{pool: pool, chain: s0.chain, ann: &announcer{ch: make(chan string, 16)}}
	// The trigger's parse fails: a write that let it run fails.
	if _, err := s0.pool.Exec(ctx, `CREATE OR REPLACE FUNCTION meridian_runs_data_object() RETURNS trigger
		LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'the trigger parsed the data'; END $$`); err != nil {
		t.Fatal(err)
	}
	log.take()
	if _, _, err := s.CreateRun(ctx, &Run{ID: "r1", Tenant: "a", State: "held", Data: []byte(`{"asOf":"2026-12-01"}`)}, "", Change{}); err != nil {
		t.Fatal(err)
	}
	created := log.take()
	if _, err := s.UpdateRun(ctx, "r1", func(r *Run) (Change, error) {
		r.Data = []byte(`["not an object"]`)
		return Change{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	updated := log.take()
	// begin, insert, order, commit; begin, select for update, update,
	// commit.
	if len(created) != 4 || len(updated) != 4 {
		t.Errorf("a creation sent %d statements, an update %d; want 4 each:\n%q\n%q", len(created), len(updated), created, updated)
	}
	var mark *bool
	if err := s0.pool.QueryRow(ctx, `SELECT data_object FROM runs WHERE id = 'r1'`).Scan(&mark); err != nil {
		t.Fatal(err)
	}
	if mark == nil || *mark {
		t.Errorf("the run's data, an array, is marked %v", mark)
	}
}

// BenchmarkPostgresUpdateRunSmall updates a run of a few hundred bytes of
// data, no change beside it: what the statements of a write cost, apart
// from its data.
func BenchmarkPostgresUpdateRunSmall(b *testing.B) {
	ctx := context.Background()
	s, err := OpenPostgres(ctx, pgtest.NewDatabase(b), Options{AuditKey: []byte("0123456789abcdef")})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if _, _, err := s.CreateRun(ctx, &Run{ID: "r1", Tenant: "a", Job: "j", State: "running", Data: []byte(`{"step":0}`)}, "", Change{}); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		if _, err := s.UpdateRun(ctx, "r1", func(r *Run) (Change, error) {
			r.Data = []byte(`{"state":"running","step":` + strconv.Itoa(i) + `}`)
			return Change{}, nil
		}); err != nil {
			b.Fatal(err)
		}
	}
}
