package agent

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestAttackScratchSwappedBeforeTheWipe: the wipe at an attempt's end
// emptied the scratch by its path, checked only at the attempt's start:
// a directory above the scratch swapped for a link since (or the scratch
// itself) had the agent empty what lay where the link led. The wipe now
// empties the directory checked at the start through the descriptor it
// was checked by, and leaves a path that no longer names it, saying so.
func TestAttackScratchSwappedBeforeTheWipe(t *testing.T) {
	for _, swapped := range []string{"the scratch", "a directory above it"} {
		dir := t.TempDir()
		above := filepath.Join(dir, "jobs")
		wd := filepath.Join(above, "run-1")
		victim := filepath.Join(dir, "victim")
		// What a link put in place of the scratch, or of the directory
		// above it, leads to: a directory of the scratch's name there.
		kept := filepath.Join(victim, "kept")
		if swapped == "a directory above it" {
			kept = filepath.Join(victim, "run-1", "kept")
		}
		for _, d := range []string{wd, filepath.Dir(kept)} {
			if err := os.MkdirAll(d, 0o700); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(kept, []byte("not the scratch's"), 0o600); err != nil {
			t.Fatal(err)
		}
		var logged strings.Builder
		a := &attempt{wd: wd, m: &Manifest{Sandbox: Sandbox{Mode: SandboxNone}}}
		a.cfg.Stderr = &logged
		if err := a.prepare(t.Context()); err == nil || strings.Contains(err.Error(), "scratch") {
			t.Fatalf("prepare: %v; want the scratch made ready, then a refusal for the empty manifest", err)
		}
		secret := filepath.Join(wd, "data", "plain")
		if err := os.WriteFile(secret, []byte("secret"), 0o600); err != nil {
			t.Fatal(err)
		}
		// The swap, once the attempt is under way.
		moved, from := filepath.Join(dir, "moved"), wd
		if swapped == "a directory above it" {
			from = above
		}
		if err := os.Rename(from, moved); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(victim, from); err != nil {
			t.Fatal(err)
		}
		a.wipe()
		if _, err := os.Lstat(kept); err != nil {
			t.Errorf("%s swapped for a link: what the link led to: %v; want it left as it was", swapped, err)
		}
		inMoved := filepath.Join(moved, "data", "plain")
		if swapped == "a directory above it" {
			inMoved = filepath.Join(moved, "run-1", "data", "plain")
		}
		if _, err := os.Lstat(inMoved); !os.IsNotExist(err) {
			t.Errorf("%s swapped for a link: the scratch checked at the start still holds its data (%v); want it emptied through its descriptor", swapped, err)
		}
		if !strings.Contains(logged.String(), "no longer names") {
			t.Errorf("%s swapped for a link: logged %q; want the scratch left said so", swapped, logged.String())
		}
	}
}

// TestAttackLockReleasedThroughASwappedDirectory: the agent removed its
// scratch and the lock beside it by their paths as it exited: a
// directory above the scratch swapped for a link during the attempt had
// it remove an empty directory and a lock file of the scratch's names
// wherever the link led. Both are now removed through the directory that
// held them when the lock was taken; a scratch the wipe leaves for the
// sweep keeps its lock, now free.
func TestAttackLockReleasedThroughASwappedDirectory(t *testing.T) {
	dir := t.TempDir()
	above, victim := filepath.Join(dir, "jobs"), filepath.Join(dir, "victim")
	wd := filepath.Join(above, "run-1")
	if err := os.MkdirAll(filepath.Join(victim, "run-1"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(victim, "run-1"+LockSuffix), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(above, 0o700); err != nil {
		t.Fatal(err)
	}
	release, err := lockScratch(wd)
	if err != nil {
		t.Fatal(err)
	}
	moved := filepath.Join(dir, "moved")
	if err := os.Rename(above, moved); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, above); err != nil {
		t.Fatal(err)
	}
	release(false)
	for _, p := range []string{filepath.Join(victim, "run-1"), filepath.Join(victim, "run-1"+LockSuffix)} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("what the link led to: %v; want it left as it was", err)
		}
	}
	for _, p := range []string{filepath.Join(moved, "run-1"), filepath.Join(moved, "run-1"+LockSuffix)} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("the scratch's own %s: %v; want it removed", p, err)
		}
	}

	// Left for the sweep: the lock stays, and is free to take.
	wd = filepath.Join(moved, "run-2")
	if release, err = lockScratch(wd); err != nil {
		t.Fatal(err)
	}
	release(true)
	if n, err := Sweep(moved); err != nil || n != 1 {
		t.Errorf("Sweep after a scratch left = %d, %v; want it removed", n, err)
	}
}

// TestAttackScratchSwappedBeforeItIsGivenOver: the uid sandbox's agent
// (root) gave the scratch to the tenant's user by its path, checked
// only at the attempt's start: a directory above the scratch swapped
// for a link since had it give the tenant whatever tree the link led to
// (and set its top 0700). The scratch is now given over from the
// descriptor its path was checked by, each directory reached from the
// one above it.
func TestAttackScratchSwappedBeforeItIsGivenOver(t *testing.T) {
	dir := t.TempDir()
	above, victim := filepath.Join(dir, "jobs"), filepath.Join(dir, "victim")
	wd := filepath.Join(above, "run-1")
	for _, d := range []string{filepath.Join(wd, "data"), filepath.Join(victim, "run-1", "etc")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	a := checkedAttempt(t, wd)
	defer a.scratch.Close()
	if err := os.Rename(above, filepath.Join(dir, "moved")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, above); err != nil {
		t.Fatal(err)
	}
	// Given over as the test's user, who could not give anything to
	// another: each change is looked at instead, by what it reaches.
	var given []uint64
	old := lchownAt
	lchownAt = func(dir int, name, p string, uid, gid int) error {
		var st unix.Stat_t
		if err := unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH); err != nil {
			return err
		}
		given = append(given, st.Ino)
		return nil
	}
	defer func() { lchownAt = old }()
	if err := chownTree(a.scratch, wd, 54321, 54321); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(victim, "run-1"), filepath.Join(victim, "run-1", "etc")} {
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			t.Fatal(err)
		}
		if slices.Contains(given, st.Ino) {
			t.Errorf("%s, where the link led, was given to the tenant; want only the scratch checked", p)
		}
		if fi, err := os.Lstat(p); err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("%s, where the link led: %v (%v); want its mode left as it was", p, fi.Mode(), err)
		}
	}
	if len(given) != 2 {
		t.Errorf("gave %d entries to the tenant; want 2, the scratch and its data", len(given))
	}
}

// TestAttackScratchSwappedBeforeTheExecutableIsLinked: in the uid
// sandbox the agent links its executable into the scratch's tmp/bin and
// gives bin to the tenant; it opened the scratch by its path, checked
// only at the attempt's start: a directory above the scratch swapped for
// a link since had it make tmp/bin, link its executable and give bin to
// the tenant where the link led. It now starts from the descriptor the
// scratch's path was checked by.
func TestAttackScratchSwappedBeforeTheExecutableIsLinked(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "meridian")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	above, victim, moved := filepath.Join(dir, "jobs"), filepath.Join(dir, "victim"), filepath.Join(dir, "moved")
	wd := filepath.Join(above, "run-1")
	for _, d := range []string{wd, filepath.Join(victim, "run-1")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	a := checkedAttempt(t, wd)
	defer a.scratch.Close()
	if err := os.Rename(above, moved); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, above); err != nil {
		t.Fatal(err)
	}
	// The test's own user stands in for the tenant: giving bin to it
	// needs no root.
	sb := Sandbox{Mode: SandboxUID, UID: os.Getuid(), GID: os.Getgid()}
	_, f, err := workloadExe(Config{Exe: exe}, sb, a.scratch, wd)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := os.Lstat(filepath.Join(victim, "run-1", "tmp")); !os.IsNotExist(err) {
		t.Errorf("tmp where the link led: %v; want nothing made there", err)
	}
	if _, err := os.Lstat(filepath.Join(moved, "run-1", "tmp", "bin", "meridian")); err != nil {
		t.Errorf("the executable in the scratch checked: %v; want it linked there", err)
	}
}
