package store_test

import (
	"context"
	"testing"
	"time"

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
	if waited := time.Since(start); waited < time.Second || waited > 10*time.Second {
		t.Errorf("the append waited %s; the frozen transaction should hold it about 2 s", waited)
	}
	if res, err := b.VerifyAudit(ctx); err != nil || !res.OK || res.Entries != 1 {
		t.Errorf("verify: %+v %v", res, err)
	}
}
