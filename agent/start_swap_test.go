package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// swapBeforeStart has the agent find its scratch wd swapped for a link
// to victim once everything is checked, just before the workload's
// reaper starts; it returns where the scratch was moved to.
func swapBeforeStart(t *testing.T, wd, victim string) string {
	t.Helper()
	moved := wd + ".moved"
	beforeWorkloadStart = func() {
		if err := os.Rename(wd, moved); err != nil {
			t.Error(err)
			return
		}
		if err := os.Symlink(victim, wd); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(func() { beforeWorkloadStart = func() {} })
	return moved
}

// sandboxModes are the modes the tests here run a workload in: none, and
// landlock and uid where this kernel and user allow them.
func sandboxModes(t *testing.T) []Sandbox {
	modes := []Sandbox{{Mode: SandboxNone}}
	if landlockABI() >= minLandlockABI {
		modes = append(modes, Sandbox{Mode: SandboxLandlock})
		if os.Geteuid() == 0 {
			modes = append(modes, Sandbox{Mode: SandboxUID, UID: 54321, GID: 54321})
		}
	} else {
		t.Logf("this kernel's Landlock is ABI %d: the landlock and uid sandboxes are not tried", landlockABI())
	}
	return modes
}

// TestAttackScratchSwappedBeforeTheWorkloadStarts: the workload was
// started in its scratch by its path (the reaper's working directory),
// looked at last as prepare ended, and granted, in the landlock and uid
// sandboxes, the scratch by that path: the scratch, or a directory above
// it, swapped for a link after that look had the workload start, as the
// tenant's user, in the directory the link led to, with that directory
// granted to it to write. The workload now starts in the scratch held
// since its check (its descriptor's /proc entry), which is the directory
// it is granted; one that writes by the path it is told finds that path
// not granted (in the sandboxes that confine it), and nothing lands where
// the link leads. Its shell's working directory is the scratch's own
// path, not a /proc entry.
func TestAttackScratchSwappedBeforeTheWorkloadStarts(t *testing.T) {
	for _, sb := range sandboxModes(t) {
		t.Run(sb.Mode, func(t *testing.T) {
			victim := t.TempDir()
			if err := os.Chmod(victim, 0o777); err != nil { // the tenant's user may write it
				t.Fatal(err)
			}
			script := `echo "cwd=$(pwd -P)"; echo "pwd=$(pwd)"; echo "PWD=$PWD"
echo here > ./here && echo wrote-here
echo by-path > "$MERIDIAN_WORKDIR/by-path" && echo wrote-by-path
exit 0`
			var wd, moved string
			srv, _, _, done := startAgentConfig(t, script, "", 0, nil, func(m *Manifest) { m.Sandbox = sb }, func(cfg *Config) {
				wd = cfg.WorkDir
				moved = swapBeforeStart(t, wd, victim)
			})
			code, err := wait(t, done)
			srv.mu.Lock()
			out := string(srv.logs)
			srv.mu.Unlock()
			if code != 0 {
				t.Fatalf("the agent: exit %d, %v; output %q", code, err, out)
			}
			if !strings.Contains(out, "cwd="+moved+"\n") {
				t.Errorf("the workload's working directory: %q; want the scratch checked, %s (the link led to %s)", out, moved, victim)
			}
			if !strings.Contains(out, "wrote-here") {
				t.Errorf("the workload could not write its working directory: %q", out)
			}
			if strings.Contains(out, "/proc/") {
				t.Errorf("the workload was told a /proc entry for its directory: %q", out)
			}
			ents, _ := os.ReadDir(victim)
			if sb.Mode != SandboxNone && len(ents) > 0 {
				t.Errorf("the workload wrote where the link led: %s holds %v (output %q)", victim, names(ents), out)
			}
			if sb.Mode != SandboxNone && strings.Contains(out, "wrote-by-path") {
				t.Errorf("the workload was granted where its scratch's path led after the swap: %q", out)
			}
		})
	}
}

// TestStartedInTheScratchSeesItsPath: with nothing swapped, the
// workload starts in its scratch and its shell names it by the scratch's
// path, and the pack helper, started there too, seals the checkpoint it
// writes, in every sandbox.
func TestStartedInTheScratchSeesItsPath(t *testing.T) {
	for _, sb := range sandboxModes(t) {
		t.Run(sb.Mode, func(t *testing.T) {
			var wd string
			srv, _, _, done := startAgentConfig(t, `echo "cwd=$(pwd)"; echo x > "$MERIDIAN_WORKDIR/x" && echo wrote; mkdir "$MERIDIAN_CHECKPOINT_DIR/step-2" && echo w > "$MERIDIAN_CHECKPOINT_DIR/step-2/w"; sleep 1`, "", 0, nil,
				func(m *Manifest) { m.Sandbox = sb }, func(cfg *Config) {
					wd = cfg.WorkDir
					// The helpers are this test binary itself, which
					// the sandboxes let run (not the counting script).
					exe, err := os.Executable()
					if err != nil {
						t.Fatal(err)
					}
					cfg.Exe, cfg.SandboxExec = exe, []string{exe, "__agent"}
					// The tenant's user passes through the directories
					// above, as at a site.
					for _, d := range []string{filepath.Dir(wd), filepath.Dir(filepath.Dir(wd))} {
						if err := os.Chmod(d, 0o755); err != nil {
							t.Fatal(err)
						}
					}
				})
			code, err := wait(t, done)
			srv.mu.Lock()
			out := string(srv.logs)
			srv.mu.Unlock()
			if code != 0 || !strings.Contains(out, "cwd="+wd+"\n") || !strings.Contains(out, "wrote") {
				t.Errorf("exit %d (%v), output %q; want the workload in %s, writing it by its path", code, err, out, wd)
			}
			srv.mu.Lock()
			defer srv.mu.Unlock()
			if len(srv.reports) != 1 || srv.reports[0].Step != 2 {
				t.Errorf("the agent reported %+v; want the checkpoint at step 2 sealed (log %q)", srv.reports, srv.logs)
			}
		})
	}
}

// TestAttackCheckpointFoundThroughASwappedScratch: the agent listed the
// workload's checkpoints, and its pack helper read the newest, by the
// scratch's path: the scratch swapped for a link after its check had the
// agent seal and report, as the run's checkpoint, one that lay where the
// link led, and name it in its messages. Both now go through the scratch
// held since its check, where the workload wrote none.
func TestAttackCheckpointFoundThroughASwappedScratch(t *testing.T) {
	victim := t.TempDir()
	if err := os.MkdirAll(filepath.Join(victim, "checkpoints", "planted-step-7"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(victim, "checkpoints", "planted-step-7", "weights"), []byte(secretText), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, _, _, done := startAgentConfig(t, "sleep 1.5", "", 0, nil, nil, func(cfg *Config) {
		swapBeforeStart(t, cfg.WorkDir, victim)
	})
	code, err := wait(t, done)
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if code != 0 {
		t.Fatalf("the agent: exit %d, %v", code, err)
	}
	if len(srv.reports) > 0 {
		t.Errorf("the agent reported %+v, found where the scratch's path led after its check; want none (the workload wrote none)", srv.reports)
	}
	if strings.Contains(string(srv.logs), "planted") {
		t.Errorf("the agent named a checkpoint found where the scratch's path led: %q", srv.logs)
	}
}

// TestAttackScratchDiskWatchedThroughASwappedPath: the agent watched the
// free space of the scratch's filesystem by the scratch's path: swapped
// for a link to a directory on a roomy filesystem after its check, the
// agent watched that one while the workload filled its own. It now looks
// through the scratch held since its check. (Here the scratch's own
// filesystem reads as full once it has been moved, as the workload
// starts, and every other as roomy.)
func TestAttackScratchDiskWatchedThroughASwappedPath(t *testing.T) {
	victim := t.TempDir()
	var wd string
	full := func(fd int) bool {
		var a, b unix.Stat_t
		err1 := unix.Fstat(fd, &a)
		err2 := unix.Stat(wd+".moved", &b)
		return err1 == nil && err2 == nil && a.Dev == b.Dev && a.Ino == b.Ino
	}
	old := fstatfs
	t.Cleanup(func() { fstatfs = old })
	fstatfs = func(fd int, st *unix.Statfs_t) error {
		if err := old(fd, st); err != nil {
			return err
		}
		st.Bsize, st.Blocks, st.Files, st.Ffree = 4096, 100<<30/4096, 1<<24, 1<<23
		st.Bavail = 50 << 30 / 4096
		if full(fd) {
			st.Bavail = 0
		}
		return nil
	}
	srv, _, _, done := startAgentConfig(t, "sleep 5; echo workload-ended", "", 0, nil, nil, func(cfg *Config) {
		wd = cfg.WorkDir
		swapBeforeStart(t, wd, victim)
	})
	code, err := wait(t, done)
	srv.mu.Lock()
	out := string(srv.logs)
	srv.mu.Unlock()
	if code == 0 || err == nil || !strings.Contains(err.Error(), "bytes free") || strings.Contains(out, "workload-ended") {
		t.Errorf("exit %d (%v), output %q; want the workload killed, the scratch's full filesystem named", code, err, out)
	}
}

// TestAttackCheckpointPackedThroughASwappedScratch: the pack helper read
// the checkpoint the agent found by the scratch's path: swapped for a
// link after the scratch's check, the helper packed, as the run's
// checkpoint, one of the same name where the link led. It now starts in
// the scratch held since its check and reads the checkpoint there.
func TestAttackCheckpointPackedThroughASwappedScratch(t *testing.T) {
	victim := t.TempDir()
	planted := filepath.Join(victim, "checkpoints", "step-3")
	if err := os.MkdirAll(planted, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(planted, "weights"), make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, _, _, done := startAgentConfig(t, "mkdir -p checkpoints/step-3 && echo x > checkpoints/step-3/own && sleep 1.5", "", 0, nil, nil, func(cfg *Config) {
		swapBeforeStart(t, cfg.WorkDir, victim)
	})
	code, err := wait(t, done)
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if code != 0 {
		t.Fatalf("the agent: exit %d, %v", code, err)
	}
	if len(srv.reports) != 1 || srv.reports[0].Bytes >= 1<<20 {
		t.Errorf("the agent reported %+v; want the workload's own checkpoint (a 2-byte file), not the 1 MiB one where the scratch's path led", srv.reports)
	}
}

// TestAttackUIDWorkloadsMeridianSwappedBeforeTheStart: a workload whose
// command is "meridian", in the uid sandbox, ran the agent's executable
// linked into its scratch by that link's absolute path, granted by it: the
// scratch swapped for a link after its check had the tenant's workload
// run whatever program lay at tmp/bin/meridian where the link led. It now
// runs the link in the scratch it starts in, the scratch held.
func TestAttackUIDWorkloadsMeridianSwappedBeforeTheStart(t *testing.T) {
	if os.Geteuid() != 0 || landlockABI() < minLandlockABI {
		t.Skip("needs root and Landlock, for the uid sandbox")
	}
	victim := t.TempDir()
	for _, d := range []string{victim, filepath.Dir(victim)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(victim, "tmp", "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(victim, "tmp", "bin", "meridian"), []byte("#!/bin/sh\necho PLANTED-RAN\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	srv, _, _, done := startAgentConfig(t, "", "", 0, nil, func(m *Manifest) {
		m.Sandbox = Sandbox{Mode: SandboxUID, UID: 54321, GID: 54321}
		m.Command = []string{"meridian", "__agent", "from-the-scratch"}
	}, func(cfg *Config) {
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		cfg.Exe, cfg.SandboxExec = exe, []string{exe, "__agent"}
		swapBeforeStart(t, cfg.WorkDir, victim)
	})
	_, err := wait(t, done)
	srv.mu.Lock()
	out := string(srv.logs)
	srv.mu.Unlock()
	if strings.Contains(out, "PLANTED-RAN") || !strings.Contains(out, `unknown subcommand "from-the-scratch"`) {
		t.Errorf("output %q (%v); want Meridian's executable in the scratch checked run, not the program where the link led", out, err)
	}
}

// TestAttackUIDWorkloadsCopiedMeridianSwappedBeforeTheStart: where the
// scratch is on another filesystem than the agent's executable, the uid
// sandbox's tmp/bin/meridian is a copy, not a link, and a command naming
// it as $(MERIDIAN_EXE) (the copy's absolute path) was run by that path,
// since it is neither the word "meridian" nor the agent's own file: the
// scratch swapped for a link after its check had the tenant's workload
// run whatever program lay at tmp/bin/meridian where the link led. It now
// runs the copy in the scratch it starts in, the scratch held.
func TestAttackUIDWorkloadsCopiedMeridianSwappedBeforeTheStart(t *testing.T) {
	if os.Geteuid() != 0 || landlockABI() < minLandlockABI {
		t.Skip("needs root and Landlock, for the uid sandbox")
	}
	victim := t.TempDir()
	for _, d := range []string{victim, filepath.Dir(victim)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(victim, "tmp", "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(victim, "tmp", "bin", "meridian"), []byte("#!/bin/sh\necho PLANTED-RAN\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	exe := exeOnAnotherFilesystem(t)
	srv, _, _, done := startAgentConfig(t, "", "", 0, nil, func(m *Manifest) {
		m.Sandbox = Sandbox{Mode: SandboxUID, UID: 54321, GID: 54321}
		m.Command = []string{"$(MERIDIAN_EXE)", "__agent", "from-the-scratch"}
	}, func(cfg *Config) {
		var st1, st2 unix.Statfs_t
		if unix.Statfs(exe, &st1) != nil || unix.Statfs(cfg.WorkDir, &st2) != nil || st1.Fsid == st2.Fsid {
			t.Skip("the scratch is on the same filesystem as /dev/shm: the executable would be linked, not copied")
		}
		cfg.Exe, cfg.SandboxExec = exe, []string{exe, "__agent"}
		swapBeforeStart(t, cfg.WorkDir, victim)
	})
	_, err := wait(t, done)
	srv.mu.Lock()
	out := string(srv.logs)
	srv.mu.Unlock()
	if strings.Contains(out, "PLANTED-RAN") || !strings.Contains(out, `unknown subcommand "from-the-scratch"`) {
		t.Errorf("output %q (%v); want the copy of Meridian's executable in the scratch checked run, not the program where the link led", out, err)
	}
}

// exeOnAnotherFilesystem is a copy of this test's executable in /dev/shm
// (a tmpfs), so that the uid sandbox copies it into a scratch elsewhere
// rather than linking it.
func exeOnAnotherFilesystem(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("/dev/shm", "meridian-exe-")
	if err != nil {
		t.Skip("no /dev/shm:", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "meridian")
	if err := os.WriteFile(exe, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return exe
}

// TestAttackScratchSwappedBeforeADatasetsCommandStarts: in the landlock
// sandbox a command written relative to the scratch (a script of a
// dataset, data/ds/run.sh) was run by its absolute path below the
// scratch's path, while the workload started in the scratch held: the
// scratch swapped for a link after its check had the exec follow that
// link, so the workload's own script did not run (not granted where the
// link led) or, where the link led into what every workload may read,
// another program ran in its place. It is now run by its path relative
// to the directory the workload starts in, the scratch held, and sees
// that relative path as $0, so that dirname "$0" finds its dataset.
func TestAttackScratchSwappedBeforeADatasetsCommandStarts(t *testing.T) {
	if landlockABI() < minLandlockABI {
		t.Skipf("this kernel's Landlock is ABI %d; the landlock sandbox needs %d", landlockABI(), minLandlockABI)
	}
	victim := t.TempDir()
	writeProgram(t, filepath.Join(victim, "data", "ds", "run.sh"), "#!/bin/sh\necho PLANTED-RAN\n")
	var moved string
	srv, _, _, done := startAgentConfig(t, "", "", 0, nil, func(m *Manifest) {
		m.Sandbox = Sandbox{Mode: SandboxLandlock}
		m.Command = []string{"data/ds/run.sh"}
	}, func(cfg *Config) {
		wd := cfg.WorkDir
		// Put where a dataset's files go once the scratch is checked,
		// as its unseal would.
		afterScratchReady = func() {
			writeProgram(t, filepath.Join(wd, "data", "ds", "run.sh"), "#!/bin/sh\necho \"0=$0\"\ncd \"$(dirname \"$0\")\" && echo \"ran-in=$(pwd -P)\"\n")
		}
		t.Cleanup(func() { afterScratchReady = func() {} })
		moved = swapBeforeStart(t, wd, victim)
	})
	code, err := wait(t, done)
	srv.mu.Lock()
	out := string(srv.logs)
	srv.mu.Unlock()
	want := "ran-in=" + filepath.Join(moved, "data", "ds") + "\n"
	if code != 0 || strings.Contains(out, "PLANTED-RAN") || !strings.Contains(out, "0=./data/ds/run.sh\n") || !strings.Contains(out, want) {
		t.Errorf("exit %d (%v), output %q; want the dataset's script run from the scratch held, %q", code, err, out, want)
	}
}
