package screen

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/internal/flock"
)

// TestStoreLockWaitEnds: an import or a decision waited without end for
// the screening directory's lock held by another (a process stopped
// holding it): the request hung, and its goroutine with it. Past
// LockWait it is refused, naming the lock, and nothing is written.
func TestStoreLockWaitEnds(t *testing.T) {
	s, _, fuzzy := screenerWithDismissal(t)
	before, err := os.ReadFile(s.decisionsPath())
	if err != nil {
		t.Fatal(err)
	}
	defer func(w time.Duration) { lockWait = w }(lockWait)
	lockWait = time.Millisecond
	held, err := flock.Lock(context.Background(), filepath.Join(s.Dir, ".lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer held()
	csv := read(t, "csl-sample-id.csv")
	done := make(chan error, 2)
	go func() {
		_, err := s.Decide("", fuzzy, "e1003", Confirm, "a.person", "same register number")
		done <- err
	}()
	go func() {
		_, err := s.Import("consolidated.csv", csv)
		done <- err
	}()
	for range 2 {
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), ".lock") {
				t.Errorf("with the lock held by another: %v, want refused naming the lock", err)
			}
		case <-time.After(time.Minute): // a guard against a hang, not a measure
			t.Fatal("a decision or import still waits for the held lock after a minute")
		}
	}
	after, err := os.ReadFile(s.decisionsPath())
	if err != nil || !bytes.Equal(after, before) {
		t.Errorf("the decisions changed while the lock was held by another: %v", err)
	}
}
