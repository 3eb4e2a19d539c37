package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// otherUID stands for a user other than the test's (root) and root.
const otherUID = 12345

// TestUnsealToThroughALink: the library opens an unseal's directory
// without following a link at its last name, so `--to ~/scratch`, the
// user's own link to their own directory, was refused. The command
// resolves --to once now and unseals into the directory it leads to,
// a plain directory as before; a link whose path or target another user
// may change (one put in a sticky directory by another user, one leading
// to another user's directory) is refused, naming the path, and nothing
// is written through it.
func TestUnsealToThroughALink(t *testing.T) {
	unseal := unsealFixture(t)
	base := t.TempDir()
	unsealed := func(dir string) string {
		t.Helper()
		got, _ := os.ReadFile(filepath.Join(dir, "a.txt"))
		return string(got)
	}

	// The user's own link to their own directory, and a directory below
	// it that the unseal makes.
	real := filepath.Join(base, "scratch-disk")
	mkdirT(t, real, 0o700)
	link := filepath.Join(base, "scratch")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if err := unseal(link); err != nil || unsealed(real) != "plain" {
		t.Errorf("unseal --to the user's own link: %v, read %q; want the files in %s", err, unsealed(real), real)
	}
	if err := unseal(filepath.Join(link, "new")); err != nil || unsealed(filepath.Join(real, "new")) != "plain" {
		t.Errorf("unseal --to a new directory below the user's own link: %v", err)
	}
	plain := filepath.Join(base, "plain")
	if err := unseal(plain); err != nil || unsealed(plain) != "plain" {
		t.Errorf("unseal --to a plain directory: %v", err)
	}

	// Another user's link, put in a shared sticky directory, to that
	// user's directory; and the user's own link to another user's
	// directory.
	shared := filepath.Join(base, "tmp")
	mkdirT(t, shared, 0o777|os.ModeSticky)
	theirs := filepath.Join(base, "theirs")
	mkdirT(t, theirs, 0o700)
	if err := os.Chown(theirs, otherUID, otherUID); err != nil {
		t.Fatal(err)
	}
	planted := filepath.Join(shared, "out")
	if err := os.Symlink(theirs, planted); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(planted, otherUID, otherUID); err != nil {
		t.Fatal(err)
	}
	own := filepath.Join(base, "to-theirs")
	if err := os.Symlink(theirs, own); err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{planted, own} {
		err := unseal(to)
		var ce *codeError
		if !errors.As(err, &ce) || ce.code != exitBadInput || !strings.Contains(err.Error(), "--to "+to) || !strings.Contains(err.Error(), "uid 12345") {
			t.Errorf("unseal --to %s, a link to another user's directory: %v; want a refusal naming it and the owner", to, err)
		}
	}
	if ents, err := os.ReadDir(theirs); err != nil || len(ents) != 0 {
		t.Errorf("the other user's directory holds %d entries (%v); want none", len(ents), err)
	}
}

// mkdirT makes dir with exactly perm (the umask aside).
func mkdirT(t *testing.T, dir string, perm os.FileMode) {
	t.Helper()
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, perm); err != nil {
		t.Fatal(err)
	}
}
