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

// manualClock is a store.LeaseClock that moves only when the test moves
// it (step), so that a lease's renewals run at the times they are due
// however slow the machine.
type manualClock struct {
	mu      sync.Mutex
	cond    *sync.Cond
	now     time.Time
	waiters []clockWaiter
	ended   bool
}

type clockWaiter struct {
	at time.Time
	ch chan time.Time
}

func newManualClock() *manualClock {
	c := &manualClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	c.cond = sync.NewCond(&c.mu)
	return c
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, clockWaiter{c.now.Add(d), ch})
	c.cond.Broadcast()
	return ch
}

// watch has step give up waiting once ctx ends.
func (c *manualClock) watch(ctx context.Context) {
	go func() {
		<-ctx.Done()
		c.mu.Lock()
		c.ended = true
		c.cond.Broadcast()
		c.mu.Unlock()
	}()
}

// step waits until someone waits on the clock, moves it to the earliest
// time waited for and wakes who waited for it; false when the watched
// context ended first (no one waits on the clock then).
func (c *manualClock) step() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.waiters) == 0 && !c.ended {
		c.cond.Wait()
	}
	if len(c.waiters) == 0 {
		return false
	}
	first := 0
	for i, w := range c.waiters {
		if w.at.Before(c.waiters[first].at) {
			first = i
		}
	}
	w := c.waiters[first]
	c.waiters = append(c.waiters[:first], c.waiters[first+1:]...)
	c.now = w.at
	w.ch <- c.now
	return true
}

// TestHoldLeaseOutlivesOneFailedRenewal: one renewal that fails (a dropped
// connection) is tried again while the lease surely holds, and the work
// under it goes on; renewals that keep failing end it before the lease
// can lapse. The lease's renewals are timed by a clock the test moves, so
// a slow machine cannot make them late (the lease's ttl is long enough
// that the store, on its own clock, never sees it lapse meanwhile).
func TestHoldLeaseOutlivesOneFailedRenewal(t *testing.T) {
	ctx := context.Background()
	st := openSQLite(t, filepath.Join(t.TempDir(), "m.db"))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	const ttl = time.Hour

	t.Run("one renewal fails", func(t *testing.T) {
		clock := newManualClock()
		// Call 1 takes the lease; call 2 is the first renewal.
		once := &failingLeaser{Leaser: st, fail: map[int]bool{2: true}}
		lctx, release, err := store.HoldLease(ctx, once, "work", "a", ttl, 0, log, store.WithLeaseClock(clock))
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		clock.watch(lctx)
		began := clock.Now()
		for clock.Now().Sub(began) < 3*ttl {
			if !clock.step() {
				t.Fatalf("one failed renewal ended the work after %s: %v", clock.Now().Sub(began), lctx.Err())
			}
		}
		once.mu.Lock()
		calls := once.calls
		once.mu.Unlock()
		if calls < 10 {
			t.Errorf("%d calls to the store in 3 ttls, want the lease taken and renewed every third of its ttl", calls)
		}
	})

	t.Run("every renewal fails", func(t *testing.T) {
		clock := newManualClock()
		always := &failingLeaser{Leaser: st, fail: map[int]bool{}}
		for n := 2; n < 1000; n++ {
			always.fail[n] = true
		}
		lctx, release, err := store.HoldLease(ctx, always, "work", "a", ttl, 0, log, store.WithLeaseClock(clock))
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		clock.watch(lctx)
		began := clock.Now()
		for steps := 0; clock.step(); steps++ {
			if steps == 100 {
				t.Fatalf("work went on %s with every renewal failing", clock.Now().Sub(began))
			}
		}
		if held := clock.Now().Sub(began); held >= ttl {
			t.Errorf("work went on %s without a renewal, to the lease's %s", held, ttl)
		}
	})
}

// TestHoldLeaseNilClockIsTheSystemClock: WithLeaseClock(nil) (an option
// built from a clock that was never set) panicked at the first reading of
// the time; it is ignored, and the lease is held by this machine's clock.
func TestHoldLeaseNilClockIsTheSystemClock(t *testing.T) {
	ctx := context.Background()
	st := openSQLite(t, filepath.Join(t.TempDir(), "m.db"))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	lctx, release, err := store.HoldLease(ctx, st, "work", "a", 10*time.Second, 0, log, store.WithLeaseClock(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if err := lctx.Err(); err != nil {
		t.Fatalf("the lease's context ended at once: %v", err)
	}
}
