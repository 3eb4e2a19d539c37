package agent

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// TestWipeRemovesWhatTheWorkloadMadeReadOnly: a workload run as the
// agent's own user (the landlock sandbox) may take the write bit off the
// directories in its scratch, the unsealed datasets' included, as some
// tools do to keep a checkpoint from being changed. The wipe at the end
// must still remove them, and so must a sweep of a dead agent's scratch:
// otherwise plaintext data stays at the site after the attempt.
func TestWipeRemovesWhatTheWorkloadMadeReadOnly(t *testing.T) {
	if asUnprivileged(t) {
		return // root removes entries of read-only directories anyway
	}
	outside := t.TempDir()
	if err := os.Chmod(outside, 0o750); err != nil {
		t.Fatal(err)
	}
	readOnlyTree := func(wd string) {
		t.Helper()
		for _, d := range []string{"data/ds/sub", "checkpoints/step-10"} {
			if err := os.MkdirAll(filepath.Join(wd, d), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(wd, d, "plain"), []byte("secret"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		// A link to a directory elsewhere is removed, never followed.
		if err := os.Symlink(outside, filepath.Join(wd, "data", "ds", "link")); err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{"data/ds/sub", "data/ds", "data", "checkpoints/step-10"} {
			if err := os.Chmod(filepath.Join(wd, d), 0o500); err != nil {
				t.Fatal(err)
			}
		}
	}

	wd := t.TempDir()
	readOnlyTree(wd)
	checkedAttempt(t, wd).wipe()
	if ents, err := os.ReadDir(wd); err != nil || len(ents) != 0 {
		t.Errorf("after the wipe the scratch holds %v (%v); want nothing", names(ents), err)
	}

	root := t.TempDir()
	dead := filepath.Join(root, "run-dead-1")
	readOnlyTree(dead)
	if err := os.WriteFile(dead+LockSuffix, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := Sweep(root); err != nil || n != 1 {
		t.Errorf("Sweep = %d, %v; want 1 scratch removed", n, err)
	}
	if _, err := os.Lstat(dead); !os.IsNotExist(err) {
		t.Errorf("the dead agent's scratch is still there (%v)", err)
	}
	if fi, err := os.Stat(outside); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("the directory a link pointed to was changed: %v, %v", fi, err)
	}
}

func names(ents []os.DirEntry) []string {
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// TestWipeRemovesWhatIsInAScratchTheWorkloadLocked: a workload run as the
// agent's own user may take the bits off its scratch directory itself
// (chmod 500, or 000). The wipe at the end must still empty it: the agent
// then removes the lock beside it, and a sweep never touches a scratch
// without one, so the unsealed data would stay at the site for good.
func TestWipeRemovesWhatIsInAScratchTheWorkloadLocked(t *testing.T) {
	if asUnprivileged(t) {
		return // root removes entries of read-only directories anyway
	}
	for _, mode := range []os.FileMode{0o500, 0o300, 0} {
		wd := t.TempDir()
		if err := os.MkdirAll(filepath.Join(wd, "data", "ds"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(wd, "data", "ds", "plain"), []byte("secret"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(wd, "out.txt"), []byte("secret"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(wd, mode); err != nil {
			t.Fatal(err)
		}
		checkedAttempt(t, wd).wipe()
		os.Chmod(wd, 0o700) // to look, and for TempDir's cleanup
		if ents, err := os.ReadDir(wd); err != nil || len(ents) != 0 {
			t.Errorf("scratch of mode %o: after the wipe it holds %v (%v); want nothing", mode, names(ents), err)
		}
	}
}

// fresh is freshScratch for a test that keeps no descriptor of the
// scratch.
func fresh(sb Sandbox, wd string, logf func(string, ...any)) error {
	scratch, err := freshScratch(sb, wd, logf)
	if scratch != nil {
		scratch.Close()
	}
	return err
}

// checkedAttempt is an attempt whose scratch wd passed its check at the
// start, as prepare leaves it.
func checkedAttempt(t *testing.T, wd string) *attempt {
	t.Helper()
	fd, err := unix.Open(wd, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	return &attempt{wd: wd, m: &Manifest{}, cfg: Config{Stderr: io.Discard}, scratch: os.NewFile(uintptr(fd), wd)}
}

// BenchmarkWipe is the end-of-attempt wipe of a scratch of 100
// directories of 100 files each.
func BenchmarkWipe(b *testing.B) {
	wd := b.TempDir()
	for b.Loop() {
		b.StopTimer()
		for i := range 100 {
			d := filepath.Join(wd, "data", strconv.Itoa(i))
			if err := os.MkdirAll(d, 0o700); err != nil {
				b.Fatal(err)
			}
			for j := range 100 {
				if err := os.WriteFile(filepath.Join(d, strconv.Itoa(j)), nil, 0o600); err != nil {
					b.Fatal(err)
				}
			}
		}
		fd, err := unix.Open(wd, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		a := &attempt{wd: wd, m: &Manifest{}, cfg: Config{Stderr: io.Discard}, scratch: os.NewFile(uintptr(fd), wd)}
		b.StartTimer()
		a.wipe()
	}
}
