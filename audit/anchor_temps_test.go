package audit

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"meridian.dev/meridian/internal/flock"
)

// plant writes a file named name in dir, last modified age ago.
func plant(t *testing.T, dir, name string, age time.Duration) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte("part"), 0o600); err != nil {
		t.Fatal(err)
	}
	if age > 0 {
		old := time.Now().Add(-age)
		if err := os.Chtimes(path, old, old); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func wantGone(t *testing.T, path string, gone bool) {
	t.Helper()
	_, err := os.Lstat(path)
	switch {
	case gone && err == nil:
		t.Errorf("%s is still there", filepath.Base(path))
	case !gone && errors.Is(err, fs.ErrNotExist):
		t.Errorf("%s was removed", filepath.Base(path))
	case !gone && err != nil:
		t.Fatal(err)
	}
}

// TestOpenAnchorsRemovesKilledWritersTemps: a writer of anchor.json or
// anchor.key killed before its rename left its temporary file in the
// anchor directory for good, and a server in a crash loop filled the disk
// with them. Opening the directory now removes anchor.json's under
// anchor.lock, which every writer of it holds, and, as nothing serialises
// anchor.key's writers, only those of anchor.key an hour old; a fresh
// one, another file's, and anything while the lock is held and fresh,
// stay.
func TestOpenAnchorsRemovesKilledWritersTemps(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	es := chainOf(t, c, 3)
	dir := t.TempDir()
	an, err := OpenAnchors(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := an.Advance(context.Background(), 3, es[2].Hash, memLog(&es), time.Now()); err != nil {
		t.Fatal(err)
	}
	hour := 2 * time.Hour
	jsonFresh := plant(t, dir, ".anchor.json.tmp-123", 0)
	keyOld := plant(t, dir, ".anchor.key.tmp-456", hour)
	keyFresh := plant(t, dir, ".anchor.key.tmp-789", 0)
	foreign := plant(t, dir, ".notes.tmp-1", hour)
	notTemp := plant(t, dir, ".anchor.json.tmp-x", hour)

	// Read-only opening only looks.
	if _, err := ReadAnchors(dir); err != nil {
		t.Fatal(err)
	}
	wantGone(t, jsonFresh, false)
	wantGone(t, keyOld, false)

	if _, err := OpenAnchors(dir); err != nil {
		t.Fatal(err)
	}
	wantGone(t, jsonFresh, true)
	wantGone(t, keyOld, true)
	wantGone(t, keyFresh, false)
	wantGone(t, foreign, false)
	wantGone(t, notTemp, false)
	if _, ok, err := an.Read(); err != nil || !ok {
		t.Fatalf("the anchor after the removal: %v %v", ok, err)
	}

	// A writer holds anchor.lock: its fresh temporary file may be being
	// filled, and stays; a stale one goes.
	unlock, err := flock.Lock(context.Background(), filepath.Join(dir, anchorLock))
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	busy := plant(t, dir, ".anchor.json.tmp-42", 0)
	stale := plant(t, dir, ".anchor.json.tmp-43", hour)
	if _, err := OpenAnchors(dir); err != nil {
		t.Fatal(err)
	}
	wantGone(t, busy, false)
	wantGone(t, stale, true)
}

// TestLoadKeyRemovesStaleKeyTemps: a writer of audit.key killed before
// its rename left its temporary file for good. LoadKey now removes those
// an hour old (its writers hold no lock, so a fresh one stays); ReadKey,
// which only looks, removes none.
func TestLoadKeyRemovesStaleKeyTemps(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadKey(dir); err != nil {
		t.Fatal(err)
	}
	old := plant(t, dir, ".audit.key.tmp-1", 2*time.Hour)
	fresh := plant(t, dir, ".audit.key.tmp-2", 0)
	foreign := plant(t, dir, ".agent.key.tmp-3", 2*time.Hour)
	if _, err := ReadKey(dir); err != nil {
		t.Fatal(err)
	}
	wantGone(t, old, false)
	if _, err := LoadKey(dir); err != nil {
		t.Fatal(err)
	}
	wantGone(t, old, true)
	wantGone(t, fresh, false)
	wantGone(t, foreign, false)
}
