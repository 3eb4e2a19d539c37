package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// unsealFixture adds a dataset "logs" holding a.txt ("plain") and returns
// a function that unseals it --to a directory.
func unsealFixture(t *testing.T) func(to string) error {
	t.Helper()
	t.Setenv("MERIDIAN_DATASET_KEY", "")
	t.Setenv("MERIDIAN_AGE_IDENTITY", "")
	base := t.TempDir()
	home := filepath.Join(base, "home")
	t.Setenv("MERIDIAN_HOME", home)
	src := filepath.Join(base, "src")
	mkdirT(t, src, 0o700)
	if err := os.WriteFile(filepath.Join(src, "a.txt"), []byte("plain"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, "dataset", "add", "logs", "--from", src, "--origin", "US", "--classification", "public"); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(home, "keyring", "logs.key")
	return func(to string) error {
		t.Helper()
		_, err := runCLI(t, "dataset", "unseal", "logs", "--store", "file://"+filepath.Join(home, "store"), "--key-file", keyFile, "--keep-key-file", "--to", to)
		return err
	}
}

// setUnsealToHook sets unsealToHook to call fn for event only.
func setUnsealToHook(t *testing.T, event string, fn func(path string)) {
	unsealToHook = func(e, p string) {
		if e == event {
			fn(p)
		}
	}
	t.Cleanup(func() { unsealToHook = nil })
}

// wantEmptyDir fails unless dir holds nothing.
func wantEmptyDir(t *testing.T, what, dir string) {
	t.Helper()
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
		t.Errorf("%s %s holds %d entries (%v); want none", what, dir, len(ents), err)
	}
}

// wantToRefused fails unless err is a refusal (exit 2) of --to to naming
// each of words.
func wantToRefused(t *testing.T, err error, to string, words ...string) {
	t.Helper()
	var ce *codeError
	ok := errors.As(err, &ce) && ce.code == exitBadInput && strings.Contains(err.Error(), "--to "+to+": ")
	for _, w := range words {
		ok = ok && strings.Contains(err.Error(), w)
	}
	if !ok {
		t.Errorf("unseal --to %s: %v; want a refusal naming it and %q", to, err, words)
	}
}

// TestUnsealToHeldOnceResolved: --to was looked at (checkSecret), then
// resolved again (EvalSymlinks), then opened by its path, and every file
// written by path below it: a directory on its way swapped for a link
// after the look led the plaintext wherever the link led. --to is now
// resolved once, each directory opened from the one above and held, and
// the files are written through the last: a swap after that changes
// nothing of where they go.
func TestUnsealToHeldOnceResolved(t *testing.T) {
	unseal := unsealFixture(t)
	base := t.TempDir()
	x, elsewhere := filepath.Join(base, "x"), filepath.Join(base, "elsewhere")
	to := filepath.Join(x, "out")
	for _, d := range []string{x, to, elsewhere, filepath.Join(elsewhere, "out")} {
		mkdirT(t, d, 0o700)
	}
	setUnsealToHook(t, "opened", func(string) {
		if err := os.Rename(x, x+".old"); err != nil {
			t.Error(err)
		}
		if err := os.Symlink(elsewhere, x); err != nil {
			t.Error(err)
		}
	})
	err := unseal(to)
	wantEmptyDir(t, "the swapped-in link's target", filepath.Join(elsewhere, "out"))
	if got, rerr := os.ReadFile(filepath.Join(x+".old", "out", "a.txt")); err != nil || string(got) != "plain" {
		t.Errorf("unseal with %s swapped after the look: %v; read %q (%v) in the directory held, want plain", x, err, got, rerr)
	}
}

// TestUnsealToMadeMeanwhileByAnother: a --to not there yet in a sticky
// directory (/tmp/out) passed the look, and the unseal then made it with
// MkdirAll, which takes a directory found there as its own: another user
// who made it between the two (theirs, open to them) got the plaintext.
// It is made through its parent now (mkdirat); found made (EEXIST), it is
// judged as an existing --to is, and refused, naming its owner.
func TestUnsealToMadeMeanwhileByAnother(t *testing.T) {
	unseal := unsealFixture(t)
	shared := filepath.Join(t.TempDir(), "tmp")
	mkdirT(t, shared, 0o777|os.ModeSticky)
	to := filepath.Join(shared, "out")
	setUnsealToHook(t, "missing", func(p string) {
		if p != to {
			return
		}
		if err := os.Mkdir(p, 0o777); err != nil {
			t.Error(err)
		}
		if err := os.Chown(p, otherUID, otherUID); err != nil {
			t.Error(err)
		}
	})
	wantToRefused(t, unseal(to), to, "uid 12345", "refused: the dataset's plaintext")
	wantEmptyDir(t, "the other user's directory", to)
}

// TestUnsealToMadeThenReplaced: the directory the unseal makes for --to is
// opened after the mkdir without following a link and checked to be this
// user's and 0700 before anything is written in it: one replaced between
// the two (by another user's) is refused, naming it.
func TestUnsealToMadeThenReplaced(t *testing.T) {
	unseal := unsealFixture(t)
	to := filepath.Join(t.TempDir(), "out")
	setUnsealToHook(t, "made", func(p string) {
		if err := os.Remove(p); err != nil {
			t.Error(err)
		}
		if err := os.Mkdir(p, 0o777); err != nil {
			t.Error(err)
		}
		if err := os.Chown(p, otherUID, otherUID); err != nil {
			t.Error(err)
		}
	})
	wantToRefused(t, unseal(to), to, to+", made by this command, is owned by uid 12345")
	wantEmptyDir(t, "the replaced directory", to)
}

// TestUnsealToKeepsItsRefusals: a --to below a directory that another user
// may write, without the sticky bit, is refused in checkSecret's words,
// and nothing is made there; a link on the way whose target climbs with
// ".." is followed as the kernel follows it, and a --to several
// directories short is made, each 0700.
func TestUnsealToKeepsItsRefusals(t *testing.T) {
	unseal := unsealFixture(t)
	base := t.TempDir()
	open := filepath.Join(base, "open")
	mkdirT(t, open, 0o777)
	to := filepath.Join(open, "out")
	wantToRefused(t, unseal(to), to, open+" (mode 0777) lets its group and others replace what is in it", "refused: the dataset's plaintext")
	wantEmptyDir(t, "the directory others may write", open)

	real := filepath.Join(base, "real")
	mkdirT(t, real, 0o700)
	mkdirT(t, filepath.Join(base, "sub"), 0o700)
	if err := os.Symlink("sub/../real", filepath.Join(base, "climb")); err != nil {
		t.Fatal(err)
	}
	if err := unseal(filepath.Join(base, "climb", "a", "b")); err != nil {
		t.Fatalf("unseal --to a new directory below a link that climbs: %v", err)
	}
	if got, err := os.ReadFile(filepath.Join(real, "a", "b", "a.txt")); err != nil || string(got) != "plain" {
		t.Errorf("read %q (%v) where the link leads; want plain", got, err)
	}
	for _, d := range []string{filepath.Join(real, "a"), filepath.Join(real, "a", "b")} {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s made: %v, %v; want mode 0700", d, fi.Mode(), err)
		}
	}
}

// TestUnsealToMadeWithTheFilesystemsMode: a filesystem may give a new
// directory a mode of its own (vfat or exfat with dmask=022, CIFS's
// dir_mode: 0755), and the unseal, requiring exactly 0700 on what it had
// just made, refused it as replaced by another user, where the same
// directory made by hand passed. It is made 0700 through its descriptor
// now and judged as an existing --to is: the unseal goes on, into a
// directory 0700 after; one chowned to another user meanwhile is still
// refused, naming its owner.
func TestUnsealToMadeWithTheFilesystemsMode(t *testing.T) {
	unseal := unsealFixture(t)
	to := filepath.Join(t.TempDir(), "out")
	setUnsealToHook(t, "made", func(p string) {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Error(err)
		}
	})
	if err := unseal(to); err != nil {
		t.Fatalf("unseal --to a directory the filesystem made 0755: %v", err)
	}
	if got, err := os.ReadFile(filepath.Join(to, "a.txt")); err != nil || string(got) != "plain" {
		t.Errorf("read %q (%v) in %s; want plain", got, err, to)
	}
	if fi, err := os.Stat(to); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("%s after the unseal: %v, %v; want mode 0700", to, fi.Mode(), err)
	}

	theirs := filepath.Join(t.TempDir(), "out")
	setUnsealToHook(t, "made", func(p string) {
		if err := os.Chown(p, otherUID, otherUID); err != nil {
			t.Error(err)
		}
	})
	wantToRefused(t, unseal(theirs), theirs, theirs+", made by this command, is owned by uid 12345")
	wantEmptyDir(t, "the directory chowned to another user", theirs)
}
