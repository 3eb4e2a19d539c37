package agent

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// TestMoveUpStartsPastLeftNames: the names a too-deep directory is moved
// up to (.meridian-deep-N) started at 0 for each emptier, so what an
// earlier, failed wipe left under them made the next try up to 1000 names
// for each directory it moved up, and fail once 1000 were left. It now
// starts past the highest number the top holds.
func TestMoveUpStartsPastLeftNames(t *testing.T) {
	top := t.TempDir()
	for i := range 1000 {
		d := filepath.Join(top, movedUpPrefix+strconv.Itoa(i))
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "f"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(top, "deep"), 0o700); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(top, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	e := &emptier{top: fd, queued: map[string]bool{}}
	if err := e.moveUp(fd, "deep"); err != nil {
		t.Fatalf("moving a directory up past 1000 left names: %v", err)
	}
	if want := movedUpPrefix + "1000"; len(e.queue) != 1 || e.queue[0] != want {
		t.Errorf("moved up to %q; want %q, the first number past those left", e.queue, want)
	}
}

// TestMoveUpQueueIsDrainedAtItsBound: the directories moved up were
// removed only once the top's passes were done, the queue and the set of
// its names growing meanwhile (up to 2^20 names in memory, and as many
// subdirectories in the top, past what some file systems allow: EMLINK).
// The queue is now removed whenever it reaches its bound, and the names
// it removed are let go.
func TestMoveUpQueueIsDrainedAtItsBound(t *testing.T) {
	old := maxQueued
	t.Cleanup(func() { maxQueued = old })
	maxQueued = 8
	top := t.TempDir()
	fd, err := unix.Open(top, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	// A chain maxOpenDepth-1 deep, with 100 directories at its bottom,
	// each with a file: every one is moved up.
	at, err := unix.Dup(fd)
	if err != nil {
		t.Fatal(err)
	}
	for range maxOpenDepth - 1 {
		if err := unix.Mkdirat(at, "d", 0o700); err != nil {
			t.Fatal(err)
		}
		next, err := unix.Openat(at, "d", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		unix.Close(at)
		if err != nil {
			t.Fatal(err)
		}
		at = next
	}
	for i := range 100 {
		name := "x" + strconv.Itoa(i)
		if err := unix.Mkdirat(at, name, 0o700); err != nil {
			t.Fatal(err)
		}
		f, err := unix.Openat(at, name+"/f", unix.O_WRONLY|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		unix.Close(f)
	}
	unix.Close(at)
	e := &emptier{top: fd, queued: map[string]bool{}}
	if err := e.empty(fd, 0); err != nil {
		t.Fatal(err)
	}
	if e.moved < 100 {
		t.Fatalf("moved up %d directories; want the 100 at the bottom at least", e.moved)
	}
	if len(e.queue) >= maxQueued || len(e.queued) >= maxQueued {
		t.Errorf("after the top's passes the queue holds %d and its names %d, of %d moved up; want fewer than %d", len(e.queue), len(e.queued), e.moved, maxQueued)
	}
	if err := e.drain(); err != nil || e.drainErr != nil {
		t.Fatalf("drain: %v, %v", err, e.drainErr)
	}
	if len(e.queued) != 0 {
		t.Errorf("%d names kept after the queue was removed", len(e.queued))
	}
	if ents, err := os.ReadDir(top); err != nil || len(ents) != 0 {
		t.Errorf("the top holds %d entries (%v); want none", len(ents), err)
	}
}
