package audit

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"meridian.dev/meridian/internal/flock"
)

// TestFollowerTriesAgainWithoutAnAppend: the follower dropped a head it
// could not anchor (anchor.lock held by another process past its wait), so
// the anchor stayed behind the log until some later append, however long
// that took. The head now stays pending and is tried again after a wait,
// until the anchor catches up; a log that no longer extends its anchor is
// not tried again, since trying cannot mend it.
func TestFollowerTriesAgainWithoutAnAppend(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	es := chainOf(t, c, 5)
	dir := t.TempDir()
	an, err := OpenAnchors(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := an.Advance(context.Background(), 1, es[0].Hash, memLog(&es), time.Now()); err != nil {
		t.Fatal(err)
	}
	defer func(w time.Duration) { anchorLockWait = w }(anchorLockWait)
	anchorLockWait = time.Millisecond
	unlock, err := flock.Lock(context.Background(), filepath.Join(dir, anchorLock))
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()

	errs := make(chan error, 1000)
	f := NewFollower(an, memLog(&es), func(err error) {
		select {
		case errs <- err:
		default:
		}
	})
	f.retryMin, f.retryMax = time.Millisecond, time.Millisecond
	go f.Run()
	defer f.Close()
	f.Notify(3, es[2].Hash)

	// guard only keeps a follower that never tries again from stalling
	// the run.
	guard := time.After(20 * time.Second)
	for i := 0; i < 2; i++ {
		select {
		case err := <-errs:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("try %d while the lock is held: %v, want the lock's wait run out", i+1, err)
			}
		case <-guard:
			t.Fatalf("the follower tried %d times to anchor head 3 while the lock was held, and not again", i)
		}
	}
	// Released, the lock is taken by the next try: the anchor catches
	// up with no append since.
	unlock()
	for {
		got, ok, err := an.Read()
		if err != nil {
			t.Fatal(err)
		}
		if ok && got.Seq == 3 && got.Head == es[2].Hash {
			break
		}
		select {
		case <-guard:
			t.Fatalf("anchor after the lock's release: %+v %v, want head 3 anchored without another append", got, ok)
		case <-time.After(time.Millisecond):
		}
	}
	f.Close()

	// A log that no longer extends its anchor: told once, not tried
	// again until the next append.
	forged := append([]Entry(nil), es...)
	forged[2].Hash = es[1].Hash
	errs = make(chan error, 1000)
	f2 := NewFollower(an, memLog(&forged), func(err error) { errs <- err })
	f2.retryMin, f2.retryMax = time.Millisecond, time.Millisecond
	go f2.Run()
	f2.Notify(5, es[4].Hash)
	select {
	case err := <-errs:
		var p *Problem
		if !errors.As(err, &p) || p.Kind != Diverged {
			t.Fatalf("extending over a diverged log: %v, want its problem", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the follower did not try to anchor head 5")
	}
	f2.Close()
	if n := len(errs); n != 0 {
		t.Errorf("the follower tried %d more times over a log that no longer extends its anchor", n)
	}
	if got, _, _ := an.Read(); got.Seq != 3 {
		t.Errorf("anchor moved to %d over a diverged log", got.Seq)
	}
}
