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
	if err := an.Advance(context.Background(), 1, es[0].Hash, memHashes(&es), now); err != nil {
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
	err = finish(func() error { return an.Extend(ctx, 3, es[2].Hash, memHashes(&es), now) })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Extend under a cancelled context while the lock is held = %v", err)
	}
	wantHolder(err)

	// Without a deadline of the caller's (Reset, the follower), the
	// lock's own bound ends the wait.
	defer func(w time.Duration) { anchorLockWait = w }(anchorLockWait)
	anchorLockWait = time.Millisecond
	err = finish(func() error { return an.Reset(3, es[2].Hash, now) })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Reset while the lock is held = %v", err)
	}
	wantHolder(err)

	// Released, the lock is taken again and the anchor moves.
	unlock()
	if err := an.Extend(context.Background(), 3, es[2].Hash, memHashes(&es), now); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := an.Read(); err != nil || !ok || got.Seq != 3 {
		t.Fatalf("anchor after the lock's release: %+v %v %v", got, ok, err)
	}
}
