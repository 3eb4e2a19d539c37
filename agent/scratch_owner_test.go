//go:build linux

package agent

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

// linkInScratch makes the executable reachable in scratch wd for the
// sandbox's user, as the agent does before the workload starts.
func linkInScratch(exe, wd string, sb Sandbox) (string, error) {
	scratch, err := os.OpenFile(wd, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return "", err
	}
	defer scratch.Close()
	p, f, err := workloadExe(Config{Exe: exe}, sb, scratch, wd)
	if f != nil {
		f.Close()
	}
	return p, err
}

// TestAttackLinkExeThroughLink: the scratch is the tenant's user's by
// the time the agent links its executable into it, and a process of that
// user has put a link to another directory where tmp/bin goes. The agent
// (root) neither puts its executable in that directory nor gives the
// directory to the tenant. Before, it followed the link: a hard link to
// itself in /etc, say, and /etc chowned to the tenant.
func TestAttackLinkExeThroughLink(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root, as the agent in uid mode is")
	}
	exe := filepath.Join(t.TempDir(), "meridian")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	wd, outside := t.TempDir(), t.TempDir()
	if err := os.Mkdir(filepath.Join(wd, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(wd, "tmp", "bin")); err != nil {
		t.Fatal(err)
	}
	sb := Sandbox{Mode: SandboxUID, UID: 54321, GID: 54321}
	if _, err := linkInScratch(exe, wd, sb); err == nil {
		t.Error("linked through a link in the scratch")
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("the directory the link leads to holds %d entries", len(ents))
	}
	var st syscall.Stat_t
	if err := syscall.Stat(outside, &st); err != nil || st.Uid != 0 {
		t.Errorf("the directory the link leads to is owned by %d (%v)", st.Uid, err)
	}
	// Where bin is a directory, the link is made in it and handed over.
	os.Remove(filepath.Join(wd, "tmp", "bin"))
	p, err := linkInScratch(exe, wd, sb)
	if err != nil {
		t.Fatal(err)
	}
	if p != filepath.Join(wd, "tmp", "bin", "meridian") {
		t.Errorf("linked as %s", p)
	}
	a, _ := os.Stat(exe)
	b, err := os.Stat(p)
	if err != nil || !os.SameFile(a, b) {
		t.Errorf("%s is not the executable (%v)", p, err)
	}
	if err := syscall.Stat(filepath.Dir(p), &st); err != nil || st.Uid != 54321 {
		t.Errorf("bin is owned by %d (%v)", st.Uid, err)
	}
}

// TestChownTreeChildrenFirst: the scratch is given to the tenant's user
// a directory at a time only once all that is in it is: a directory the
// user owns may have what is in it swapped for a link by any process of
// the user, which a walk still to go into it would follow. Before, each
// directory was given over first and then walked.
func TestChownTreeChildrenFirst(t *testing.T) {
	wd := t.TempDir()
	for _, d := range []string{"data/ds/a/b", "ckpt", "tmp"} {
		if err := os.MkdirAll(filepath.Join(wd, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"data/ds/a/b/f", "data/ds/g"} {
		if err := os.WriteFile(filepath.Join(wd, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var order []string
	old := lchownAt
	lchownAt = func(_ int, _, p string, uid, gid int) error { order = append(order, p); return nil }
	defer func() { lchownAt = old }()
	if err := chownTree(checkedAttempt(t, wd).scratch, wd, 54321, 54321); err != nil {
		t.Fatal(err)
	}
	if len(order) != 9 {
		t.Fatalf("chowned %d paths, want 9: %q", len(order), order)
	}
	for i, p := range order {
		if p == wd {
			continue
		}
		if j := slices.Index(order, filepath.Dir(p)); j < i {
			t.Errorf("%s given over after the directory it is in (%d, %d)", p, i, j)
		}
	}
}

// TestAttackRelaunchedScratchLinkedOut: an attempt launched again on the
// scratch of its earlier launch (whose agent was killed before it removed
// it) found it still the tenant's user's, and a process of that user
// (another of its jobs on the node) put a link where data, checkpoints or
// tmp went between the agent's removal of each and its making it again:
// the agent, as root, then unsealed the datasets and the checkpoint where
// the link led. The agent now takes the scratch back before it makes
// anything in it, and refuses a directory it did not make.
func TestAttackRelaunchedScratchLinkedOut(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root, as the agent in uid mode is")
	}
	const tenant = 54321
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	wd, outside := filepath.Join(dir, "scratch"), filepath.Join(dir, "outside")
	for _, d := range []string{wd, outside} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(outside, 0o777); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// This test binary, where the tenant's user may run it.
	bin, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	exe = filepath.Join(dir, "linker")
	if err := os.WriteFile(exe, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	names := []string{"data", "checkpoints", "tmp"}
	args := []string{"__linker", outside}
	for _, n := range names {
		args = append(args, filepath.Join(wd, n))
	}
	linker := exec.Command(exe, args...)
	linker.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: tenant, Gid: tenant}}
	if err := linker.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		linker.Process.Kill()
		linker.Wait()
	}()
	for i := range 300 {
		// As the earlier launch left it.
		if err := os.Chown(wd, tenant, tenant); err != nil {
			t.Fatal(err)
		}
		err := fresh(Sandbox{Mode: SandboxUID, UID: tenant, GID: tenant}, wd, nil)
		for _, n := range names {
			fi, lerr := os.Lstat(filepath.Join(wd, n))
			if err == nil && (lerr != nil || !fi.IsDir()) {
				t.Fatalf("launch %d: the scratch was made ready with %s a link (%v)", i, n, lerr)
			}
		}
		if ents, _ := os.ReadDir(outside); len(ents) != 0 {
			t.Fatalf("launch %d: the directory a link leads to holds %d entries", i, len(ents))
		}
	}
}
