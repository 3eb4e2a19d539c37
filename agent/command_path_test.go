package agent

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
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
		return workloadOutput(t, cmd)
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
	tools := readableDir(t)
	train := writeProgram(t, filepath.Join(tools, "train"), "#!/bin/sh\necho TRAIN-RAN\n")
	other := writeProgram(t, filepath.Join(tools, "other"), "#!/bin/sh\necho OTHER-RAN\n")
	wd := scratchDir(t)
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
	if got := workloadOutput(t, cmd); !strings.Contains(got, "TRAIN-RAN") || strings.Contains(got, "OTHER-RAN") {
		t.Errorf("the command swapped for another after its check: %q; want the one judged run", got)
	}
}

// TestAttackRelativeCommandFoundAnotherWayAfterItsCheck: a command named
// without a slash was looked up in the job's PATH by sandbox-exec, at the
// exec, after the check, and nothing of it was judged: another program
// put in an earlier directory of that PATH, or in place of the one found,
// after the agent had checked the workload ran in its place. The agent
// now finds the command in the job's PATH once, judges the file found and
// runs that file, through its descriptor.
func TestAttackRelativeCommandFoundAnotherWayAfterItsCheck(t *testing.T) {
	if landlockABI() < minLandlockABI {
		t.Skipf("this kernel's Landlock is ABI %d; the landlock sandbox needs %d", landlockABI(), minLandlockABI)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		// after changes the PATH's directories once the check is done.
		after func(t *testing.T, first, second string)
	}{
		{"another program put in an earlier directory of the PATH", func(t *testing.T, first, _ string) {
			writeProgram(t, filepath.Join(first, "train"), "#!/bin/sh\necho OTHER-RAN\n")
		}},
		{"another program put in place of the one found", func(t *testing.T, _, second string) {
			other := writeProgram(t, filepath.Join(second, "other"), "#!/bin/sh\necho OTHER-RAN\n")
			if err := os.Rename(other, filepath.Join(second, "train")); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first, second := readableDir(t), readableDir(t)
			writeProgram(t, filepath.Join(second, "train"), "#!/bin/sh\necho TRAIN-RAN\n")
			wd := scratchDir(t)
			cfg := Config{Exe: exe, SandboxExec: []string{exe, "__agent"}}
			sb := Sandbox{Mode: SandboxLandlock, ReadOnly: []string{first, second}}
			env := []string{"PATH=" + first + ":" + second + ":/usr/bin:/bin"}
			cmd, err := workloadCommand(cfg, sb, wd, []string{"train"}, env)
			if err != nil {
				t.Fatalf("a program under a --ro path found by the job's PATH: %v; want it run", err)
			}
			tc.after(t, first, second)
			if got := workloadOutput(t, cmd); !strings.Contains(got, "TRAIN-RAN") || strings.Contains(got, "OTHER-RAN") {
				t.Errorf("output %q; want the program found and judged at the check run", got)
			}
		})
	}
}

// TestRelativeCommandJudgedAsFound: a command named without a slash is
// judged as the file the job's PATH finds, as one named by that path is:
// a script of the server's user outside the paths every workload may
// read is refused at the check, naming the field, the name and the file
// found (it was not judged at all, and was left to fail at the exec), as
// is a name found through a relative directory of the PATH or not found.
func TestRelativeCommandJudgedAsFound(t *testing.T) {
	root := t.TempDir()
	private := filepath.Join(root, "state")
	if err := os.Mkdir(private, 0o700); err != nil {
		t.Fatal(err)
	}
	secret := writeProgram(t, filepath.Join(private, "batch.sh"), "#!/bin/sh\nTOKEN=secret\n")
	if err := os.Chmod(secret, 0o700); err != nil {
		t.Fatal(err)
	}
	wd := filepath.Join(root, "scratch")
	if err := os.Mkdir(wd, 0o700); err != nil {
		t.Fatal(err)
	}
	writeProgram(t, filepath.Join(wd, "bin", "train"), "#!/bin/sh\necho TRAIN-RAN\n")
	cfg := Config{Exe: "/nonexistent/meridian"}
	sb := Sandbox{Mode: SandboxLandlock}
	for _, tc := range []struct {
		name, exe, path string
		want            []string // in the refusal; nil: not refused
	}{
		{"a script of the server's user", "batch.sh", private + ":/usr/bin:/bin", []string{commandField, `"batch.sh"`, secret, "owned by the server's user"}},
		{"a name found in a relative directory of the PATH", "train", "bin:/usr/bin", []string{commandField, `"train"`, `"bin"`, "relative"}},
		{"a name the PATH does not find", "no-such-program", "/usr/bin:/bin", []string{commandField, `"no-such-program"`, "/usr/bin:/bin"}},
		{"a system program", "sh", "/usr/bin:/bin", nil},
		{"a program in the scratch, by the PATH", "train", filepath.Join(wd, "bin"), nil},
		{"a program in the scratch, by its path from there", "bin/train", "/usr/bin", nil},
	} {
		cmd, err := workloadCommand(cfg, sb, wd, []string{tc.exe}, []string{"PATH=" + tc.path})
		if tc.want == nil {
			if err != nil {
				t.Errorf("%s: %v; want it run", tc.name, err)
				continue
			}
			// Run through its descriptor, or in the scratch by the path
			// judged: either way not looked up again at the exec.
			// One written relative to the scratch is run relative to it.
			args := strings.Join(cmd.Args, " ")
			want := filepath.Join(wd, "bin", "train")
			if strings.Contains(tc.exe, "/") {
				want = "./" + tc.exe
			}
			if cmd.grant == nil && !strings.Contains(args, "--exec-path "+want+" ") {
				t.Errorf("%s: %s; want the file found judged and run as found", tc.name, args)
			}
			if cmd.grant != nil {
				cmd.grant.Close()
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: not refused; want it refused at the check", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: the refusal %q does not say %q", tc.name, err, w)
			}
		}
	}
}

// readableDir is a new directory every user may read.
// workloadOutput runs cmd to its end and is what it wrote, both streams
// together.
func workloadOutput(t *testing.T, cmd *sandboxed) string {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	return out.String()
}

// scratchDir is an attempt's scratch directory, new and the server's
// user's alone.
func scratchDir(t *testing.T) string {
	t.Helper()
	wd := filepath.Join(t.TempDir(), "scratch")
	if err := os.Mkdir(wd, 0o700); err != nil {
		t.Fatal(err)
	}
	return wd
}

func readableDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// writeProgram writes an executable file at path, the directories above
// it made as needed.
func writeProgram(t *testing.T, path, data string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestScriptInTheScratchSeesItsPath: a script run through its descriptor
// was given /proc/self/fd/5 for its path ($0), and one in the scratch
// (the tenant's own, unsealed from a dataset) could not find the files
// next to it. One in the scratch, where nothing is granted for it, is
// now run by the path judged, named by that path, by the job's PATH or
// from the scratch; a link put in its place after the check to a file the
// workload may not read is still not run.
func TestScriptInTheScratchSeesItsPath(t *testing.T) {
	if landlockABI() < minLandlockABI {
		t.Skipf("this kernel's Landlock is ABI %d; the landlock sandbox needs %d", landlockABI(), minLandlockABI)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	private := filepath.Join(root, "state")
	if err := os.Mkdir(private, 0o700); err != nil {
		t.Fatal(err)
	}
	secret := writeProgram(t, filepath.Join(private, "batch.sh"), "#!/bin/sh\necho SECRET-RAN\n")
	if err := os.Chmod(secret, 0o700); err != nil {
		t.Fatal(err)
	}
	wd := filepath.Join(root, "scratch")
	if err := os.Mkdir(wd, 0o700); err != nil {
		t.Fatal(err)
	}
	script := writeProgram(t, filepath.Join(wd, "data", "train.sh"), "#!/bin/sh\necho \"0=$0\"\n")
	cfg := Config{Exe: exe, SandboxExec: []string{exe, "__agent"}}
	sb := Sandbox{Mode: SandboxLandlock}
	run := func(name, path string, swap bool) string {
		t.Helper()
		cmd, err := workloadCommand(cfg, sb, wd, []string{name}, []string{"PATH=" + path})
		if err != nil {
			t.Fatalf("%s: %v; want it run", name, err)
		}
		if swap {
			if err := os.Rename(script, script+".old"); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(secret, script); err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := os.Rename(script+".old", script); err != nil {
					t.Fatal(err)
				}
			}()
		}
		return workloadOutput(t, cmd)
	}
	// One written relative to the scratch is run, and named, relative
	// to the directory it starts in (the scratch held, at an attempt).
	for _, tc := range []struct{ name, path, want string }{
		{script, "/usr/bin:/bin", script},
		{"train.sh", filepath.Dir(script) + ":/usr/bin:/bin", script},
		{"data/train.sh", "/usr/bin:/bin", "./data/train.sh"},
	} {
		if got := run(tc.name, tc.path, false); strings.TrimSpace(got) != "0="+tc.want {
			t.Errorf("%s (PATH %s) printed %q; want its path, 0=%s", tc.name, tc.path, got, tc.want)
		}
	}
	if got := run(script, "/usr/bin:/bin", true); strings.Contains(got, "SECRET-RAN") {
		t.Errorf("a link to a script of the server's user put in the scratch after the check was run: %q", got)
	}
}

// TestRunByPathOnlyWhereTheScratchAloneNamesIt: a command is run by its
// path only where nothing but the workload and the server's user can
// change what the path names: a clean path in the scratch, with no link
// below it, in a scratch no other user may write.
func TestRunByPathOnlyWhereTheScratchAloneNamesIt(t *testing.T) {
	wd := filepath.Join(t.TempDir(), "scratch")
	script := writeProgram(t, filepath.Join(wd, "data", "train.sh"), "#!/bin/sh\n")
	if err := os.Chmod(wd, 0o700); err != nil {
		t.Fatal(err)
	}
	tools := readableDir(t)
	if err := os.Symlink(tools, filepath.Join(wd, "tools")); err != nil {
		t.Fatal(err)
	}
	writeProgram(t, filepath.Join(tools, "train.sh"), "#!/bin/sh\n")
	judged := func(path string) bool {
		t.Helper()
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		return runByPath(wd, path, f)
	}
	if !judged(script) {
		t.Errorf("%s, in the scratch: not run by its path", script)
	}
	for _, path := range []string{
		filepath.Join(wd, "tools", "train.sh"), // through a link out of the scratch
		wd + "/data/../data/train.sh",          // not clean
		filepath.Join(tools, "train.sh"),       // outside the scratch
	} {
		if judged(path) {
			t.Errorf("%s: run by its path; want it run through its descriptor", path)
		}
	}
	if err := os.Chmod(wd, 0o777); err != nil {
		t.Fatal(err)
	}
	if judged(script) {
		t.Errorf("%s, in a scratch every user may write: run by its path; want it run through its descriptor", script)
	}
}

// TestCommandRefusalTellsNoMoreThanTheWorkloadSees: a refusal of a
// command named without a slash differs between a name not found in the
// job's PATH and one found there but refused, also for a directory of
// that PATH the workload may not list, so the refusal tells the tenant
// that a name is there. It is kept so, for the useful error (a program of
// the server's user refused says why and what to do, where "not found"
// would mislead), because the workload tells the same itself: Landlock
// does not cover stat(2), and a workload confined to its grants, which
// cannot list such a directory or read the file, still sees that the
// name is there, its owner and its mode. Should Landlock come to cover
// stat, this test fails, and the refusal should then read as "not found"
// for such a directory.
func TestCommandRefusalTellsNoMoreThanTheWorkloadSees(t *testing.T) {
	if landlockABI() < minLandlockABI {
		t.Skipf("this kernel's Landlock is ABI %d; the landlock sandbox needs %d", landlockABI(), minLandlockABI)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	private := filepath.Join(readableDir(t), "state")
	if err := os.Mkdir(private, 0o700); err != nil {
		t.Fatal(err)
	}
	secret := writeProgram(t, filepath.Join(private, "batch.sh"), "#!/bin/sh\necho SECRET-RAN\n")
	if err := os.Chmod(secret, 0o700); err != nil {
		t.Fatal(err)
	}
	wd := scratchDir(t)
	cfg := Config{Exe: exe, SandboxExec: []string{exe, "__agent"}}
	sb := Sandbox{Mode: SandboxLandlock}
	env := []string{"PATH=" + private + ":/usr/bin:/bin"}
	_, found := workloadCommand(cfg, sb, wd, []string{"batch.sh"}, env)
	_, absent := workloadCommand(cfg, sb, wd, []string{"no-such-program"}, env)
	if found == nil || absent == nil || !strings.Contains(found.Error(), secret) || strings.Contains(absent.Error(), private+"/") {
		t.Fatalf("refusals: found %v; absent %v; want both refused, only the first naming the file", found, absent)
	}
	script := "ls " + private + " >/dev/null 2>&1 && echo LISTED; cat " + secret + " 2>/dev/null; " +
		"test -e " + secret + " && echo THERE; test -e " + private + "/no-such-program || echo ABSENT; stat -c 'OWNER=%u MODE=%a' " + secret
	cmd, err := workloadCommand(cfg, sb, wd, []string{"/bin/sh", "-c", script}, env)
	if err != nil {
		t.Fatal(err)
	}
	got := workloadOutput(t, cmd)
	if strings.Contains(got, "LISTED") || strings.Contains(got, "SECRET-RAN") {
		t.Fatalf("the workload listed the directory or read the file: %q", got)
	}
	want := []string{"THERE", "ABSENT", "OWNER=" + strconv.Itoa(os.Geteuid()) + " MODE=700"}
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("the confined workload printed %q, without %q: it no longer sees what the refusal tells (a name there, its owner and mode); make the refusal of a name found in a directory it cannot list read as one not found", got, w)
		}
	}
}
