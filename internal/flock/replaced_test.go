package flock

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestLockFollowsReplacedFile: a lock file removed while a locker had it
// open (a job directory cleaned and made again) left that locker holding
// a lock on a file no one else opens any more, while the next one locked
// the new file at the path: both went on as holders. Lock now holds the
// lock on the file at path when it returns.
func TestLockFollowsReplacedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	removed := false
	testHookOpened = func() {
		if !removed {
			removed = true
			if err := os.Remove(path); err != nil {
				t.Error(err)
			}
		}
	}
	defer func() { testHookOpened = nil }()
	unlock, err := Lock(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	other, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := syscall.Flock(int(other.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); !errors.Is(err, syscall.EWOULDBLOCK) {
		t.Errorf("another locker of the file at the path while Lock holds it: %v, want EWOULDBLOCK", err)
	}
}

// TestLockReplacedEndsWithContext: a lock file replaced each time it is
// opened keeps Lock opening it again; its context bounds those tries.
func TestLockReplacedEndsWithContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	opened := 0
	testHookOpened = func() {
		opened++
		if opened <= 100 {
			if err := os.Remove(path); err != nil {
				t.Error(err)
			}
		}
	}
	defer func() { testHookOpened = nil }()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	unlock, err := Lock(ctx, path)
	if err == nil {
		unlock()
		t.Fatalf("a lock file replaced at each of %d opens, with the context ended: locked", opened-1)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Lock: %v, want the context's error", err)
	}
}
