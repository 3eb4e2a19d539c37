package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestAttackScratchRenamedThroughADirectoryAbove: the scratch, and a
// command run by its path in it, were checked for writers other than the
// server's user and root, but not the directories above them: a user who
// could write one could rename the scratch (or the command's directory)
// away between the check and the run and put their own in its place, its
// program then run by the path judged. A directory on the path that its
// group or every user may write (the sticky bit unset), or that another
// user owns, is now refused, naming it and who may write it; a sticky
// shared directory such as /tmp is not.
func TestAttackScratchRenamedThroughADirectoryAbove(t *testing.T) {
	shared := filepath.Join(t.TempDir(), "shared")
	wd := filepath.Join(shared, "scratch")
	script := writeProgram(t, filepath.Join(wd, "data", "train.sh"), "#!/bin/sh\n")
	for _, d := range []string{wd, filepath.Dir(script)} {
		if err := os.Chmod(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	cfg := Config{Exe: "/nonexistent/meridian"}
	sb := Sandbox{Mode: SandboxLandlock}
	start := func() (*sandboxed, error) {
		t.Helper()
		cmd, err := workloadCommand(cfg, sb, wd, []string{script}, []string{"PATH=/usr/bin:/bin"})
		if cmd != nil && cmd.grant != nil {
			cmd.grant.Close()
		}
		return cmd, err
	}
	// The server's own directories are set right, not refused
	// (TestAttackWorkloadChmodLocksEveryTenantOut); others' are refused
	// below. Above the scratch, a server that is not root stands in for
	// one run as root: root sets right only the scratch and what is in it.
	for _, tc := range []struct {
		dir  string
		mode os.FileMode
	}{
		{shared, 0o777}, {shared, 0o775}, {shared, 0o757}, {filepath.Dir(script), 0o777},
	} {
		restore := func() {}
		if tc.dir == shared {
			restore = asServerUser(t, shared)
		}
		if err := os.Chmod(tc.dir, tc.mode); err != nil {
			t.Fatal(err)
		}
		if _, err := start(); err != nil {
			t.Errorf("%s (the server's) mode %04o above the command: %v; want its mode set back and the command run", tc.dir, tc.mode, err)
		}
		if fi, err := os.Stat(tc.dir); err != nil || fi.Mode().Perm()&0o022 != 0 {
			t.Errorf("%s (the server's) mode %04o above the command: now %v (%v); want group and other write taken away", tc.dir, tc.mode, fi.Mode(), err)
		}
		if err := os.Chmod(tc.dir, 0o700); err != nil {
			t.Fatal(err)
		}
		restore()
	}
	// As /tmp: every user may write it, but only an entry's owner (and
	// the directory's, and root) may rename or remove that entry.
	if err := os.Chmod(shared, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	cmd, err := start()
	if err != nil {
		t.Fatalf("a sticky directory above the scratch: %v; want the command run", err)
	}
	if args := strings.Join(cmd.Args, " "); !strings.Contains(args, "--exec-path "+script+" ") {
		t.Errorf("a sticky directory above the scratch: %s; want the command run by its path", args)
	}
	// A command run through its descriptor is judged as opened, wherever
	// it lies; the scratch it is granted is still checked.
	if os.Geteuid() != 0 {
		return
	}
	if err := os.Chmod(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(shared, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if _, err := workloadCommand(cfg, sb, wd, []string{"/bin/sh"}, []string{"PATH=/usr/bin:/bin"}); err == nil || !strings.Contains(err.Error(), "the scratch "+wd) {
		t.Errorf("a system program with a scratch under another user's directory: %v; want it refused, naming the scratch", err)
	}
	// A directory another user owns, whatever its mode: its owner may
	// give itself the right to write it.
	if _, err := start(); err == nil || !strings.Contains(err.Error(), "its owner (uid 65534)") {
		t.Errorf("a directory of uid 65534 above the scratch: %v; want it refused, naming its owner", err)
	}
}

// TestScratchWritersCheckedBeforeUnsealing: a scratch under a directory
// that another user may write is refused before the datasets are
// unsealed into it, naming that directory, in the landlock and uid
// sandboxes: the uid sandbox did not check the scratch's path at all.
// Mode none, which trusts the site to isolate the attempt, takes it. Nor is
// anything in it removed first, by the preparation or by the wipe after
// the refusal: emptied by its path, the scratch was emptied where that
// user had the path lead.
func TestScratchWritersCheckedBeforeUnsealing(t *testing.T) {
	real := landlockABI
	defer func() { landlockABI = real }()
	landlockABI = func() int { return minLandlockABI }
	// An agent of another user than the one who owns shared (root's, or
	// this test's): it cannot set shared's mode right.
	other := 4242
	if os.Geteuid() == other {
		other++
	}
	defer func() { geteuid = os.Geteuid }()
	geteuid = func() int { return other }

	shared := filepath.Join(t.TempDir(), "shared")
	if err := os.Mkdir(shared, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	modes := []Sandbox{{Mode: SandboxLandlock}}
	if os.Geteuid() == 0 {
		// The uid sandbox needs root; not root, it is refused for that
		// before its scratch is looked at.
		modes = append(modes, Sandbox{Mode: SandboxUID, UID: 54321, GID: 54321})
	}
	for _, sb := range modes {
		wd := filepath.Join(shared, "scratch-"+sb.Mode)
		kept := filepath.Join(wd, "data", "kept")
		if err := os.MkdirAll(filepath.Dir(kept), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(kept, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		a := &attempt{wd: wd, m: &Manifest{Sandbox: sb}}
		err := a.prepare(t.Context())
		if err == nil || !strings.Contains(err.Error(), shared+" (mode 0777") {
			t.Errorf("sandbox %q: prepare: %v; want it refused, naming %s and its mode", sb.Mode, err, shared)
		}
		a.wipe()
		if _, err := os.Lstat(kept); err != nil {
			t.Errorf("sandbox %q: a file in the refused scratch: %v; want it left as it was", sb.Mode, err)
		}
	}
	// Mode none trusts the site's own isolation of the attempt (a
	// container per attempt, whose scratch volume is root's and 0777):
	// the same scratch is taken and emptied there.
	wd := filepath.Join(shared, "scratch-none")
	old := filepath.Join(wd, "data", "old")
	if err := os.MkdirAll(filepath.Dir(old), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(old, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := fresh(Sandbox{Mode: SandboxNone}, wd, nil); err != nil {
		t.Errorf("sandbox none: a scratch under a directory others may write: %v; want it taken, the site isolating the attempt", err)
	}
	if _, err := os.Lstat(old); !os.IsNotExist(err) {
		t.Errorf("sandbox none: the scratch's old data: %v; want it emptied", err)
	}
}

// TestAttackWorkloadChmodLocksEveryTenantOut: a landlock workload runs as
// the server's user and may chmod any directory of that user (Landlock
// does not cover metadata). One chmod 0777 of the shared work root had
// every later landlock attempt under it refused at its start, every
// tenant's, until an operator set the mode back. A directory of the
// server's user on the path now has group and other write taken away and
// the attempt runs; one the server cannot set right (root's, the server
// not root) is still refused and left as it is.
func TestAttackWorkloadChmodLocksEveryTenantOut(t *testing.T) {
	root := filepath.Join(t.TempDir(), "work")
	if err := os.Mkdir(root, 0o700); err != nil {
		t.Fatal(err)
	}
	sb := Sandbox{Mode: SandboxLandlock}
	var logged []string
	cfg := Config{Exe: "/nonexistent/meridian", logf: func(format string, args ...any) {
		logged = append(logged, fmt.Sprintf(format, args...))
	}}
	restore := asServerUser(t, root)
	for _, tenant := range []string{"a", "b"} {
		// The earlier tenant's workload opened the work root to all.
		if err := os.Chmod(root, 0o777); err != nil {
			t.Fatal(err)
		}
		wd := filepath.Join(root, tenant)
		if err := os.Mkdir(wd, 0o700); err != nil {
			t.Fatal(err)
		}
		cmd, err := workloadCommand(cfg, sb, wd, []string{"/bin/sh"}, []string{"PATH=/usr/bin:/bin"})
		if err != nil {
			t.Fatalf("tenant %s after a workload's chmod 0777 of the work root: %v; want the attempt run", tenant, err)
		}
		if cmd.grant != nil {
			cmd.grant.Close()
		}
		if fi, err := os.Stat(root); err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("tenant %s: the work root is now %v (%v); want 0755", tenant, fi.Mode(), err)
		}
		if want := root + " (owned by uid " + strconv.Itoa(geteuid()) + ") could be written by its group"; len(logged) != 1 || !strings.Contains(logged[0], want) || !strings.HasSuffix(logged[0], "set from 0777 to 0755") {
			t.Errorf("tenant %s: logged %q; want one line saying %q, from 0777 to 0755", tenant, logged, want)
		}
		logged = nil
	}
	restore()
	if os.Geteuid() != 0 {
		return
	}
	// As root, the work root above the scratch is the site's: refused
	// and left as it is, not set right for every user of the node.
	if err := os.Chmod(root, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := workloadCommand(cfg, sb, filepath.Join(root, "a"), []string{"/bin/sh"}, nil); err == nil || !strings.Contains(err.Error(), root+" (mode 0777, owned by uid 0)") {
		t.Errorf("a root-owned work root of mode 0777, the server root: %v; want it refused, naming it", err)
	}
	if fi, err := os.Stat(root); err != nil || fi.Mode().Perm() != 0o777 || len(logged) != 0 {
		t.Errorf("a root-owned work root, the server root: now %v (%v), logged %q; want it left 0777", fi.Mode(), err, logged)
	}
	// As a server that is not root: root's directories are not its own
	// to set right.
	defer func() { geteuid = os.Geteuid }()
	geteuid = func() int { return 4242 }
	if err := os.Chmod(root, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := workloadCommand(cfg, sb, filepath.Join(root, "a"), []string{"/bin/sh"}, nil); err == nil || !strings.Contains(err.Error(), root+" (mode 0777, owned by uid 0)") {
		t.Errorf("a root-owned work root of mode 0777, the server not root: %v; want it refused, naming it", err)
	}
	if fi, err := os.Stat(root); err != nil || fi.Mode().Perm() != 0o777 {
		t.Errorf("a root-owned work root, the server not root: now %v (%v); want it left 0777", fi.Mode(), err)
	}
}

// TestAttackReadOnlyPathSwappedThroughADirectoryAbove: the paths a
// landlock workload may read were judged with their links resolved
// (checkPrivate), then granted again by path: a user who could write a
// directory on the way (or the one that holds a link met on it) could
// swap it between the check and the grant, the workload then granted
// what the swap led to, such as the server's state directory. Such a
// directory is now refused, naming it, where the server cannot set it
// right; one of the server's user is set right and the workload runs. A
// read-only path given relative, which the helper would resolve in the
// scratch, is refused.
func TestAttackReadOnlyPathSwappedThroughADirectoryAbove(t *testing.T) {
	base := t.TempDir()
	wd := filepath.Join(base, "scratch")
	shared := filepath.Join(base, "shared")
	tools := filepath.Join(shared, "tools")
	for _, d := range []string{wd, tools} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// A link to the tools, in a directory of its own.
	links := filepath.Join(base, "links")
	if err := os.Mkdir(links, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(tools, filepath.Join(links, "tools")); err != nil {
		t.Fatal(err)
	}
	start := func(ro ...string) error {
		t.Helper()
		sb := Sandbox{Mode: SandboxLandlock, ReadOnly: ro}
		cmd, err := workloadCommand(Config{Exe: "/nonexistent/meridian"}, sb, wd, []string{"/bin/sh"}, []string{"PATH=/usr/bin:/bin"})
		if cmd != nil && cmd.grant != nil {
			cmd.grant.Close()
		}
		return err
	}
	if err := start("tools"); err == nil || !strings.Contains(err.Error(), `read-only path "tools" is not an absolute path`) {
		t.Errorf("a relative read-only path: %v; want it refused, naming it", err)
	}
	// The server's own directories are set right.
	restore := asServerUser(t, shared, links)
	for _, d := range []string{shared, links} {
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	if err := start(tools, filepath.Join(links, "tools")); err != nil {
		t.Errorf("read-only paths under the server's directories of mode 0777: %v; want their modes set back and the workload run", err)
	}
	for _, d := range []string{shared, links} {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("%s: now %v (%v); want 0755", d, fi.Mode(), err)
		}
	}
	restore()
	if os.Geteuid() != 0 {
		return
	}
	// As a server that is not root, root's directories are not its own.
	defer func() { geteuid = os.Geteuid }()
	geteuid = func() int { return 4242 }
	for _, tc := range []struct {
		ro, open string
	}{
		{tools, shared},                               // a directory on its path
		{filepath.Join(links, "tools"), links},        // the one that holds a link met on it
		{filepath.Join(links, "tools", "bin"), links}, // not there yet: the link may be swapped to where it is
	} {
		if err := os.Chmod(tc.open, 0o777); err != nil {
			t.Fatal(err)
		}
		if err := start(tc.ro); err == nil || !strings.Contains(err.Error(), "the read-only path "+tc.ro+": the directory "+tc.open+" (mode 0777") {
			t.Errorf("read-only path %s, %s of mode 0777: %v; want it refused, naming %s", tc.ro, tc.open, err, tc.open)
		}
		if err := os.Chmod(tc.open, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// asServerUser stands in, where the test runs as root, for a server that
// is not root and owns dirs: root sets right no directory above the
// scratch (they are the site's), a server of another user its own. The
// returned restore gives dirs back to root and the server its own uid.
func asServerUser(t *testing.T, dirs ...string) (restore func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		return func() {}
	}
	const server = 4242
	chown := func(uid int) {
		for _, d := range dirs {
			if err := os.Lchown(d, uid, -1); err != nil {
				t.Fatal(err)
			}
		}
	}
	chown(server)
	geteuid = func() int { return server }
	return func() {
		geteuid = os.Geteuid
		chown(0)
	}
}
