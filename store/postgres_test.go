package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/internal/pgtest"
	"meridian.dev/meridian/store"
)

// TestPostgresPausedHolderReleasesLocks: a server frozen inside a
// transaction (here: one that locked the audit head and never finished)
// holds its locks only until the database ends its idle transaction; then
// the other replicas append again.
func TestPostgresPausedHolderReleasesLocks(t *testing.T) {
	url := pgtest.NewDatabase(t)
	a := openPostgres(t, url).(*store.Postgres)
	b := openPostgres(t, url)
	ctx := context.Background()
	tx, err := a.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	// How long the database lets a transaction idle is read from the
	// session, not from how long the append below waited, which a loaded
	// machine stretches.
	var idle string
	if err := tx.QueryRow(ctx, `SHOW idle_in_transaction_session_timeout`).Scan(&idle); err != nil || idle != "2s" {
		t.Errorf("idle_in_transaction_session_timeout = %q (%v), want 2s", idle, err)
	}
	if _, err := tx.Exec(ctx, `SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	rec, _ := audit.NewRecord(audit.KindState, "r1", 1)
	start := time.Now()
	actx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := b.AppendAudit(actx, rec); err != nil {
		t.Fatalf("append behind a frozen transaction: %v", err)
	}
	// Held for good, the append ends with actx's 20 s and fails above; an
	// upper bound of its own, once 10 s, measured the load on the machine
	// (the session's timeout is read above). A wait under a second is an
	// append the lock never held.
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("the append waited %s; the frozen transaction should hold it about 2 s", waited)
	}
	if res, err := b.VerifyAudit(ctx); err != nil || !res.OK || res.Entries != 1 {
		t.Errorf("verify: %+v %v", res, err)
	}
}

// TestPostgresPutResourcesLocksAuditHeadLast: a batch of resources waiting
// for one of them (another transaction holds its row) must not hold the
// audit head meanwhile, or every replica's appends (each run's state
// changes, every decision) wait for it. The batch appends its entries once
// all its resources are written, taking the head once.
func TestPostgresPutResourcesLocksAuditHeadLast(t *testing.T) {
	url := pgtest.NewDatabase(t)
	a := openPostgres(t, url).(*store.Postgres)
	b := openPostgres(t, url)
	ctx := context.Background()
	held := resourcePuts(t, 0, 1)
	if _, err := a.PutResources(ctx, held); err != nil {
		t.Fatal(err)
	}
	// A connection of its own: the store's end a transaction left idle.
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT 1 FROM resources WHERE tenant = 'a' AND kind = 'Organization' AND name = $1 FOR UPDATE`, held[0].Resource.Name); err != nil {
		t.Fatal(err)
	}
	// A new resource first, then the held one, replaced.
	puts := append(resourcePuts(t, 1, 1), resourcePuts(t, 0, 1)...)
	puts[1].IfVersion = 1
	puts[1].Resource.Doc = []byte(`{"kind":"Organization","metadata":{"name":"` + held[0].Resource.Name + `"},"spec":{}}`)
	done := make(chan error, 1)
	go func() {
		_, err := a.PutResources(ctx, puts)
		done <- err
	}()
	// Until the batch waits for the held row.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int
		if err := a.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the batch never waited for the held resource")
		}
		time.Sleep(20 * time.Millisecond)
	}
	rec, _ := audit.NewRecord(audit.KindState, "r1", 1)
	// An append held behind the batch waits until the rollback below, so
	// only this context ends it: 30 s, not the 3 s a loaded machine may
	// spend on one append.
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := b.AppendAudit(actx, rec); err != nil {
		t.Errorf("an append while a batch of resources waits for a row: %v (the batch holds the audit head)", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the batch: %v", err)
	}
	res, err := b.VerifyAudit(ctx)
	if err != nil || !res.OK {
		t.Fatalf("verify: %+v %v", res, err)
	}
	es, err := b.AuditEntries(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, string(e.Payload))
	}
	if want := 4; len(es) != want {
		t.Fatalf("%d entries, want %d: %v", len(es), want, names)
	}
}
