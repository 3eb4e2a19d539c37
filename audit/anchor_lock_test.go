package audit

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/internal/flock"
)

// TestAnchorLockWaitIsBounded: a live process holding anchor.lock (stopped,
// or stuck on a hung file system) stalled every anchor update for ever,
// whatever the caller's context. The wait now ends with the caller's
// context, and in any case after anchorLockWait, with an error naming the
// lock file and, where the system says, its holder.
func TestAnchorLockWaitIsBounded(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	es := chainOf(t, c, 3)
	dir := t.TempDir()
	an, err := OpenAnchors(dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	if err := an.Advance(context.Background(), 1, es[0].Hash, memLog(&es), now); err != nil {
		t.Fatal(err)
	}
	lock := filepath.Join(dir, anchorLock)
	// A lock on another open file description excludes this process too.
	unlock, err := flock.Lock(context.Background(), lock)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()

	// finish runs f, failing the test if it is still waiting when the
	// guard runs out: the guard only keeps a hang from stalling the run.
	finish := func(f func() error) error {
		t.Helper()
		return guarded(t, 30*time.Second, f, func() { t.Fatal("the anchor update still waits on the held lock") })
	}
	wantHolder := func(err error) {
		t.Helper()
		if !strings.Contains(err.Error(), lock) {
			t.Errorf("error does not name the lock file: %v", err)
		}
		if runtime.GOOS == "linux" {
			if _, serr := os.Stat("/proc/locks"); serr == nil && !strings.Contains(err.Error(), "process "+strconv.Itoa(os.Getpid())) {
				t.Errorf("error does not name the holder (process %d): %v", os.Getpid(), err)
			}
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = finish(func() error { return an.Extend(ctx, 3, es[2].Hash, memLog(&es), now) })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Extend under a cancelled context while the lock is held = %v", err)
	}
	wantHolder(err)

	// Without a deadline of the caller's (Reset, the follower), the
	// lock's own bound ends the wait.
	defer func(w time.Duration) { anchorLockWait = w }(anchorLockWait)
	anchorLockWait = time.Millisecond
	err = finish(func() error { return an.Reset(context.Background(), 3, es[2].Hash, now) })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Reset while the lock is held = %v", err)
	}
	wantHolder(err)

	// Released, the lock is taken again and the anchor moves.
	unlock()
	if err := an.Extend(context.Background(), 3, es[2].Hash, memLog(&es), now); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := an.Read(); err != nil || !ok || got.Seq != 3 {
		t.Fatalf("anchor after the lock's release: %+v %v %v", got, ok, err)
	}
}

// TestResetHonoursContext: Reset took no context, so a start told to
// accept a broken log waited out the whole of anchorLockWait on a lock
// held by another process (or by another update of its own), whatever
// its own context said. It now gives up when the caller's context ends,
// for either lock.
func TestResetHonoursContext(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	es := chainOf(t, c, 3)
	dir := t.TempDir()
	an, err := OpenAnchors(dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	finish := func(f func() error) error {
		t.Helper()
		return guarded(t, 20*time.Second, f, func() { t.Fatal("Reset still waits after its context ended") })
	}

	// Another process holds anchor.lock.
	unlock, err := flock.Lock(context.Background(), filepath.Join(dir, anchorLock))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := finish(func() error { return an.Reset(ctx, 3, es[2].Hash, now) }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Reset under a cancelled context while another process holds the lock = %v", err)
	}
	unlock()

	// Another update of this process holds the anchor.
	release, err := an.lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := finish(func() error { return an.Reset(ctx, 3, es[2].Hash, now) }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Reset under a cancelled context while this process updates the anchor = %v", err)
	}
	if _, ok, err := an.Read(); err != nil || ok {
		t.Fatalf("an anchor was written by a Reset that gave up: %v %v", ok, err)
	}
	release()

	if err := an.Reset(context.Background(), 3, es[2].Hash, now); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := an.Read(); err != nil || !ok || got.Seq != 3 || got.Head != es[2].Hash {
		t.Fatalf("anchor after Reset: %+v %v %v", got, ok, err)
	}
}
