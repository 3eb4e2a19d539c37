package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestAttackScratchPathInUIDSandbox: the uid sandbox did not check the
// scratch's path. A site's shared work root may be 0777 without the
// sticky bit, or another user's: another local user (or another
// workload) could rename the scratch, or a directory above it, and put
// their own in its place, into which the agent (root, in the uid
// sandbox) unsealed the datasets. A directory on the path that another
// user owns, or may write, is now refused, naming it, its mode and its
// owner. A root-owned one above the scratch is refused too and left as
// it is: the agent, root, took group and other write off it, changing a
// site's /scratch (0775, root and a group of its users) for every user
// of the node. The scratch itself, root's or (handed over) the
// tenant's, has group and other write taken away, logged. Needs root,
// to give directories to other users.
func TestAttackScratchPathInUIDSandbox(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to make directories of other users (and for the uid sandbox)")
	}
	const other, tenant = 65534, 54321
	cfg := Config{Exe: "/nonexistent/meridian"}
	sb := Sandbox{Mode: SandboxUID, UID: tenant, GID: tenant}
	shared := filepath.Join(t.TempDir(), "shared")
	wd := filepath.Join(shared, "scratch")
	if err := os.MkdirAll(wd, 0o700); err != nil {
		t.Fatal(err)
	}
	setDir := func(p string, mode os.FileMode, uid int) {
		t.Helper()
		if err := os.Chown(p, uid, uid); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	refused := func(what string, err error, p, mode string, uid int) {
		t.Helper()
		want := p + " (mode " + mode + ", owned by uid " + strconv.Itoa(uid) + ")"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v; want it refused, naming %s", what, err, want)
		}
	}
	var logged []string
	cfg.logf = func(format string, args ...any) { logged = append(logged, fmt.Sprintf(format, args...)) }
	start := func() error {
		cmd, err := workloadCommand(cfg, sb, wd, []string{"/bin/true"}, nil)
		if cmd != nil && cmd.grant != nil {
			cmd.grant.Close()
		}
		return err
	}

	// Another user's directory above the scratch, whatever its mode.
	setDir(shared, 0o755, other)
	refused("another user's directory above", fresh(sb, wd, cfg.logf), shared, "0755", other)
	refused("another user's directory above, at the start", start(), shared, "0755", other)
	// Root's (the agent's own), open to a group of the site's users:
	// the site's, not the agent's to change; refused and left as it is.
	setDir(shared, 0o775, 0)
	refused("root's directory 0775 above", fresh(sb, wd, cfg.logf), shared, "0775", 0)
	wantMode(t, shared, 0o775)
	refused("root's directory 0775 above, at the start", start(), shared, "0775", 0)
	wantMode(t, shared, 0o775)
	setDir(shared, 0o755, 0)
	// The scratch itself 0777, as a Kubernetes emptyDir: root's is set
	// right, and logged; another user's is refused.
	setDir(wd, 0o777, 0)
	logged = nil
	if err := fresh(sb, wd, cfg.logf); err != nil {
		t.Errorf("root's scratch 0777: %v; want its mode set back", err)
	}
	wantMode(t, wd, 0o755)
	if want := wd + " (owned by uid 0) could be written by its group (gid 0) and every user: its mode was set from 0777 to 0755"; len(logged) != 1 || !strings.Contains(logged[0], want) {
		t.Errorf("root's scratch 0777 set right: logged %q; want one line saying %q", logged, want)
	}
	setDir(wd, 0o777, other)
	refused("another user's scratch 0777", fresh(sb, wd, cfg.logf), wd, "0777", other)
	// Handed to the tenant (chownTree), the scratch is the tenant's at
	// the start; one the tenant opened to all is set right.
	setDir(wd, 0o700, tenant)
	if err := start(); err != nil {
		t.Errorf("the scratch handed to its tenant: %v; want the workload started", err)
	}
	setDir(wd, 0o777, tenant)
	if err := start(); err != nil {
		t.Errorf("the tenant's scratch 0777: %v; want its mode set back", err)
	}
	wantMode(t, wd, 0o755)
	// Not above it: the tenant's directory there is refused.
	setDir(wd, 0o700, tenant)
	setDir(shared, 0o755, tenant)
	refused("the tenant's directory above", start(), shared, "0755", tenant)
}

// TestAttackScratchSwappedBetweenCheckAndEmptying: the scratch was
// emptied by its path: swapped for a link after its check, the agent
// removed what lay where the link led (data, checkpoints and tmp
// there). It is now emptied through the descriptor it was checked by,
// and a scratch that its path no longer names is refused.
func TestAttackScratchSwappedBetweenCheckAndEmptying(t *testing.T) {
	dir := t.TempDir()
	wd, outside := filepath.Join(dir, "scratch"), filepath.Join(dir, "outside")
	victim := filepath.Join(outside, "data", "victim")
	for _, p := range []string{filepath.Join(wd, "data"), filepath.Dir(victim)} {
		if err := os.MkdirAll(p, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(victim, []byte("not the scratch's"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(wd, "data", "old"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	defer func() { afterScratchCheck = func() {} }()
	afterScratchCheck = func() {
		if err := os.Rename(wd, wd+".checked"); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(outside, wd); err != nil {
			t.Fatal(err)
		}
	}
	err := fresh(Sandbox{Mode: SandboxNone}, wd, nil)
	if _, serr := os.Lstat(victim); serr != nil {
		t.Errorf("after the scratch was swapped for a link: %v; want what the link leads to left as it was", serr)
	}
	if err == nil || !strings.Contains(err.Error(), "replaced") {
		t.Errorf("freshScratch of a scratch swapped after its check: %v; want it refused as replaced", err)
	}
	if _, err := os.Lstat(filepath.Join(wd+".checked", "data", "old")); !os.IsNotExist(err) {
		t.Errorf("the scratch checked: its old data: %v; want it emptied", err)
	}
}

// TestFreshScratchEmptiesALockedTree: what a workload of the agent's own
// user locked in its scratch (directories without their owner's bits,
// the scratch itself 000) is emptied all the same through the scratch's
// descriptor, links removed and not followed.
func TestFreshScratchEmptiesALockedTree(t *testing.T) {
	if asUnprivileged(t) {
		return // root removes past any mode
	}
	outside := t.TempDir()
	kept := filepath.Join(outside, "kept")
	if err := os.WriteFile(kept, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	wd := scratchDir(t)
	for _, d := range []string{"data/ds/sub", "checkpoints/step-1", "tmp"} {
		if err := os.MkdirAll(filepath.Join(wd, d), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(wd, d, "plain"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(wd, "data", "ds", "link")); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"data/ds/sub", "data/ds", "checkpoints/step-1", "checkpoints", "tmp", ""} {
		if err := os.Chmod(filepath.Join(wd, d), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := fresh(Sandbox{Mode: SandboxNone}, wd, nil); err != nil {
		t.Fatal(err)
	}
	for _, d := range scratchDirs {
		if ents, err := os.ReadDir(filepath.Join(wd, d)); err != nil || len(ents) != 0 {
			t.Errorf("%s after freshScratch: %v (%v); want it empty", d, names(ents), err)
		}
	}
	if _, err := os.Lstat(kept); err != nil {
		t.Errorf("what a link in the scratch led to: %v; want it left", err)
	}
}

// wantMode checks the permission bits of p.
func wantMode(t *testing.T, p string, mode os.FileMode) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Errorf("%s: %v", p, err)
	} else if fi.Mode().Perm() != mode {
		t.Errorf("%s: mode %v; want %v", p, fi.Mode().Perm(), mode)
	}
}
