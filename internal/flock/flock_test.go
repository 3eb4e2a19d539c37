package flock

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestLockExcludesAndReleases(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	unlock, err := Lock(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := Lock(ctx, path); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Lock while held = %v, want the context's deadline", err)
	}
	unlock()
	again, err := Lock(context.Background(), path)
	if err != nil {
		t.Fatalf("Lock after release: %v", err)
	}
	again()
}

// TestLockRefusesLinksAndFIFOs: a link put where a lock file goes made
// Lock create (and lock) the file the link named, anywhere its opener may
// write; a FIFO there was taken as the lock file.
func TestLockRefusesLinksAndFIFOs(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "elsewhere")
	link := filepath.Join(dir, "lock")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if unlock, err := Lock(ctx, link); err == nil {
		unlock()
		t.Errorf("Lock through a link: no error")
	}
	if _, err := os.Lstat(target); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the link's target was created: %v", err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		unlock, err := Lock(ctx, fifo)
		if err == nil {
			unlock()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Errorf("Lock of a FIFO: no error")
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("Lock of a FIFO still in its open after 20 s")
	}
}

// TestLockOwnRefusesALinkedOrAForeignFile: Lock took whatever regular file
// was at the path: a hard link to another file put there had the lock
// taken on that file, and a file of another user one that user may hold
// for ever. LockOwn refuses both, naming the file, and takes the lock on
// a file of its own.
func TestLockOwnRefusesALinkedOrAForeignFile(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	own := filepath.Join(dir, "own")
	unlock, err := LockOwn(ctx, own)
	if err != nil {
		t.Fatalf("LockOwn of a new lock file: %v", err)
	}
	unlock()

	other := filepath.Join(dir, "other")
	if err := os.WriteFile(other, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	linked := filepath.Join(dir, "linked")
	if err := os.Link(other, linked); err != nil {
		t.Fatal(err)
	}
	if unlock, err := LockOwn(ctx, linked); err == nil {
		unlock()
		t.Errorf("LockOwn of a file with 2 links: no error")
	} else if !strings.Contains(err.Error(), linked) || !strings.Contains(err.Error(), "2 links") {
		t.Errorf("LockOwn of a file with 2 links: %v, want the file and its links named", err)
	}

	if os.Geteuid() != 0 {
		return // another user's file is made by chown, which takes root
	}
	foreign := filepath.Join(dir, "foreign")
	if err := os.WriteFile(foreign, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(foreign, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if unlock, err := LockOwn(ctx, foreign); err == nil {
		unlock()
		t.Errorf("LockOwn of another user's file: no error")
	} else if !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Errorf("LockOwn of another user's file: %v, want its owner named", err)
	}
}
