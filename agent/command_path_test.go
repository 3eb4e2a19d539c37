package agent

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAttackLandlockCommandReadsServerFile: in the landlock sandbox the
// workload runs as the server's user, and a command named by an absolute
// path is given to it to read and execute. A tenant who knew the path of
// an executable file of the server's user (a Slurm batch script holding
// its attempt's credential, a script with a secret in it) had it read.
// Such a command is now refused, naming the path and why; a program in the
// paths every workload may read anyway still runs.
func TestAttackLandlockCommandReadsServerFile(t *testing.T) {
	root := t.TempDir()
	mk := func(path string) string {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("#!/bin/sh\nTOKEN=secret\n"), 0o700); err != nil {
			t.Fatal(err)
		}
		return path
	}
	secret := mk(filepath.Join(root, "state", "jobs", "r-1", "batch.sh"))
	wd := filepath.Join(root, "scratch")
	ro := filepath.Join(root, "tools")
	inScratch := mk(filepath.Join(wd, "tmp", "train"))
	inRO := mk(filepath.Join(ro, "train"))
	agentExe := mk(filepath.Join(root, "bin", "meridian"))
	linkInRO := filepath.Join(ro, "linked")
	if err := os.Symlink(secret, linkInRO); err != nil {
		t.Fatal(err)
	}
	// A file of another user that the server's user reads only by its
	// group (as root, by its privilege) is refused too.
	foreign := mk(filepath.Join(root, "srv", "other.sh"))
	if err := os.Chmod(foreign, 0o750); err != nil {
		t.Fatal(err)
	}
	foreignOwned := os.Geteuid() == 0
	if foreignOwned {
		if err := os.Chown(foreign, 65534, os.Getegid()); err != nil {
			t.Fatal(err)
		}
	}
	cfg := Config{Exe: agentExe}
	landlock := Sandbox{Mode: SandboxLandlock, ReadOnly: []string{ro}}
	for _, tc := range []struct {
		name    string
		sb      Sandbox
		exe     string
		refused bool
	}{
		{"a script of the server's user", landlock, secret, true},
		{"a link under a --ro path to it", landlock, linkInRO, true},
		{"a path that is not there", landlock, filepath.Join(root, "missing"), true},
		{"another user's file the server's user may read, not every user", landlock, foreign, true},
		{"a system program", landlock, "/bin/sh", false},
		{"a program under a --ro path", landlock, inRO, false},
		{"a program in the scratch", landlock, inScratch, false},
		{"the agent's own executable", landlock, agentExe, false},
		{"a command found by PATH", landlock, "sh", false},
		{"the uid sandbox (another user, who cannot read the server's files)", Sandbox{Mode: SandboxUID, UID: 3000000, GID: 3000000}, secret, false},
	} {
		_, err := workloadCommand(cfg, tc.sb, wd, []string{tc.exe, "arg"}, []string{"PATH=/usr/bin:/bin"})
		if (err != nil) != tc.refused {
			t.Errorf("%s: %v; want refused %v", tc.name, err, tc.refused)
			continue
		}
		if err != nil && !strings.Contains(err.Error(), tc.exe) {
			t.Errorf("%s: the refusal does not name the command's path: %v", tc.name, err)
		}
		if err != nil && tc.exe == secret && !strings.Contains(err.Error(), "owned by the server's user") {
			t.Errorf("%s: the refusal does not say why: %v", tc.name, err)
		}
		if err != nil && tc.exe == foreign && foreignOwned && !strings.Contains(err.Error(), "may be read by the server's user") {
			t.Errorf("%s: the refusal does not say why: %v", tc.name, err)
		}
	}
}

// TestAttackCommandSwappedAfterItsCheck: the landlock sandbox judged the
// workload's command by its path, and the helper granted the workload
// whatever that path named when it confined itself, later. Whoever could
// write a directory on the path (a --ro path shared with others, the
// tenant's own tools) swapped a link to a script of the server's user in
// between, and the workload was given it to read and run. The helper now
// grants the file the agent opened and judged, so what the path names by
// then is not granted.
func TestAttackCommandSwappedAfterItsCheck(t *testing.T) {
	if landlockABI() < minLandlockABI {
		t.Skipf("this kernel's Landlock is ABI %d; the landlock sandbox needs %d", landlockABI(), minLandlockABI)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	write := func(path, data string, mode os.FileMode) string {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		return path
	}
	secret := write(filepath.Join(root, "state", "jobs", "r-1", "batch.sh"), "#!/bin/sh\necho SECRET-RAN\n", 0o700)
	tools := filepath.Join(root, "tools")
	train := write(filepath.Join(tools, "train"), "#!/bin/sh\necho TRAIN-RAN\n", 0o755)
	wd := filepath.Join(root, "scratch")
	if err := os.Mkdir(wd, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Exe: exe, SandboxExec: []string{exe, "__agent"}}
	sb := Sandbox{Mode: SandboxLandlock, ReadOnly: []string{tools}}
	run := func(swap bool) string {
		t.Helper()
		cmd, err := workloadCommand(cfg, sb, wd, []string{train}, []string{"PATH=/usr/bin:/bin"})
		if err != nil {
			t.Fatalf("a program under a --ro path: %v; want it run", err)
		}
		if swap {
			if err := os.Remove(train); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(secret, train); err != nil {
				t.Fatal(err)
			}
		}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		return out.String()
	}
	if got := run(false); !strings.Contains(got, "TRAIN-RAN") {
		t.Fatalf("the program judged did not run: %q", got)
	}
	if got := run(true); strings.Contains(got, "SECRET-RAN") {
		t.Errorf("a script of the server's user linked in under the command's path after its check was run: %q", got)
	}
}

// TestAttackCommandSwappedInAReadableDirectoryAfterItsCheck: the helper
// granted the command judged by its descriptor, but sandbox-exec then
// found and ran the command by its path, so that another program put in
// its place after the check, in a directory every workload may read, ran
// in place of the one judged. sandbox-exec now runs the open file it was
// granted.
func TestAttackCommandSwappedInAReadableDirectoryAfterItsCheck(t *testing.T) {
	if landlockABI() < minLandlockABI {
		t.Skipf("this kernel's Landlock is ABI %d; the landlock sandbox needs %d", landlockABI(), minLandlockABI)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tools := t.TempDir()
	if err := os.Chmod(tools, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, data string) string {
		t.Helper()
		path := filepath.Join(tools, name)
		if err := os.WriteFile(path, []byte(data), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, 0o755); err != nil {
			t.Fatal(err)
		}
		return path
	}
	train := write("train", "#!/bin/sh\necho TRAIN-RAN\n")
	other := write("other", "#!/bin/sh\necho OTHER-RAN\n")
	wd := filepath.Join(t.TempDir(), "scratch")
	if err := os.Mkdir(wd, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Exe: exe, SandboxExec: []string{exe, "__agent"}}
	sb := Sandbox{Mode: SandboxLandlock, ReadOnly: []string{tools}}
	cmd, err := workloadCommand(cfg, sb, wd, []string{train}, []string{"PATH=/usr/bin:/bin"})
	if err != nil {
		t.Fatalf("a program under a --ro path: %v; want it run", err)
	}
	// Another program of that directory put in its place after the check.
	if err := os.Rename(other, train); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if got := out.String(); !strings.Contains(got, "TRAIN-RAN") || strings.Contains(got, "OTHER-RAN") {
		t.Errorf("the command swapped for another after its check: %q; want the one judged run", got)
	}
}
