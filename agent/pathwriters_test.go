package agent

import (
	"os"
	"path/filepath"
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
	type refusal struct {
		dir  string
		mode os.FileMode
		want []string // in the refusal
	}
	cases := []refusal{
		{shared, 0o777, []string{shared, "every user", "its group"}},
		{shared, 0o775, []string{shared, "its group"}},
		{shared, 0o757, []string{shared, "every user"}},
		{filepath.Dir(script), 0o777, []string{filepath.Dir(script), "every user"}},
	}
	for _, tc := range cases {
		if err := os.Chmod(tc.dir, tc.mode); err != nil {
			t.Fatal(err)
		}
		_, err := start()
		if err == nil {
			t.Errorf("%s mode %04o above the command: run; want it refused", tc.dir, tc.mode)
		}
		for _, w := range tc.want {
			if err != nil && !strings.Contains(err.Error(), w) {
				t.Errorf("%s mode %04o: the refusal %q does not say %q", tc.dir, tc.mode, err, w)
			}
		}
		if err := os.Chmod(tc.dir, 0o700); err != nil {
			t.Fatal(err)
		}
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
	if err := os.Chmod(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := workloadCommand(cfg, sb, wd, []string{"/bin/sh"}, []string{"PATH=/usr/bin:/bin"}); err == nil || !strings.Contains(err.Error(), "the scratch "+wd) {
		t.Errorf("a system program with a scratch under a directory every user may write: %v; want it refused, naming the scratch", err)
	}
	if os.Geteuid() != 0 {
		return
	}
	// A directory another user owns, whatever its mode: its owner may
	// give itself the right to write it.
	if err := os.Chmod(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(shared, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if _, err := start(); err == nil || !strings.Contains(err.Error(), "its owner (uid 65534)") {
		t.Errorf("a directory of uid 65534 above the scratch: %v; want it refused, naming its owner", err)
	}
}

// TestScratchWritersCheckedBeforeUnsealing: in the landlock sandbox, a
// scratch under a directory that another user may write is refused
// before the datasets are unsealed into it, naming that directory.
func TestScratchWritersCheckedBeforeUnsealing(t *testing.T) {
	real := landlockABI
	defer func() { landlockABI = real }()
	landlockABI = func() int { return minLandlockABI }

	shared := filepath.Join(t.TempDir(), "shared")
	if err := os.Mkdir(shared, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mode    string
		refused bool
	}{
		{SandboxLandlock, true},
		{SandboxNone, false},
	} {
		a := &attempt{wd: filepath.Join(shared, "scratch"), m: &Manifest{Sandbox: Sandbox{Mode: tc.mode}}}
		err := a.prepare(t.Context())
		refused := err != nil && strings.Contains(err.Error(), shared+" (mode 0777")
		if refused != tc.refused {
			t.Errorf("sandbox %q: prepare: %v; want refused %v", tc.mode, err, tc.refused)
		}
	}
}
