package store_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
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

// failingLeaser fails the TryLease calls whose numbers (from 1) are in
// fail, and passes the others to the store.
type failingLeaser struct {
	store.Leaser
	mu    sync.Mutex
	calls int
	fail  map[int]bool
}

func (f *failingLeaser) TryLease(ctx context.Context, name, holder string, ttl time.Duration) (store.Lease, error) {
	f.mu.Lock()
	f.calls++
	n := f.calls
	f.mu.Unlock()
	if f.fail[n] {
		return store.Lease{}, errors.New("connection reset")
	}
	return f.Leaser.TryLease(ctx, name, holder, ttl)
}

// TestHoldLeaseOutlivesOneFailedRenewal: one renewal that fails (a dropped
// connection) is tried again while the lease surely holds, and the work
// under it goes on; renewals that keep failing end it before the lease
// can lapse.
func TestHoldLeaseOutlivesOneFailedRenewal(t *testing.T) {
	ctx := context.Background()
	st := openSQLite(t, filepath.Join(t.TempDir(), "m.db"))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	const ttl = 300 * time.Millisecond
	// Call 1 takes the lease; call 2 is the first renewal.
	once := &failingLeaser{Leaser: st, fail: map[int]bool{2: true}}
	lctx, release, err := store.HoldLease(ctx, once, "work", "a", ttl, 0, log)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * ttl)
	if lctx.Err() != nil {
		t.Errorf("one failed renewal ended the work: %v", lctx.Err())
	}
	release()

	always := &failingLeaser{Leaser: st, fail: map[int]bool{}}
	for n := 2; n < 1000; n++ {
		always.fail[n] = true
	}
	began := time.Now()
	lctx, release, err = store.HoldLease(ctx, always, "work", "a", ttl, 0, log)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	select {
	case <-lctx.Done():
		if held := time.Since(began); held > ttl {
			t.Errorf("work went on %s without a renewal, past the lease's %s", held, ttl)
		}
	case <-time.After(3 * ttl):
		t.Error("work went on with every renewal failing")
	}
}
