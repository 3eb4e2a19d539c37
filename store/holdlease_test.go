package store_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"meridian.dev/meridian/store"
)

// TestHoldLeaseWaits: a second holder waits as long as it is told and then
// is refused with ErrLeaseBusy; once the first releases, it takes the
// lease at once.
func TestHoldLeaseWaits(t *testing.T) {
	ctx := context.Background()
	st := openSQLite(t, filepath.Join(t.TempDir(), "m.db"))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	_, releaseA, err := store.HoldLease(ctx, st, "work", "a", 10*time.Second, 0, log)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.HoldLease(ctx, st, "work", "b", 10*time.Second, 0, log); !errors.Is(err, store.ErrLeaseBusy) {
		t.Fatalf("b without waiting: %v, want ErrLeaseBusy", err)
	}
	began := time.Now()
	if _, _, err := store.HoldLease(ctx, st, "work", "b", 10*time.Second, 300*time.Millisecond, log); !errors.Is(err, store.ErrLeaseBusy) {
		t.Fatalf("b waiting 300 ms: %v, want ErrLeaseBusy", err)
	}
	if waited := time.Since(began); waited < 300*time.Millisecond {
		t.Errorf("b gave up after %s, want 300 ms at least", waited)
	}
	releaseA()
	lctx, releaseB, err := store.HoldLease(ctx, st, "work", "b", 10*time.Second, 0, log)
	if err != nil {
		t.Fatalf("b after a released: %v", err)
	}
	if lctx.Err() != nil {
		t.Errorf("b's lease context ended at once: %v", lctx.Err())
	}
	releaseB()
	if lctx.Err() == nil {
		t.Error("b's lease context outlives its release")
	}
}
