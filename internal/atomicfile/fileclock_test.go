package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// setFileClock has the sweeps read the filesystem's clock off now, and
// count the reads, until the test ends.
func setFileClock(t *testing.T, now func() (time.Time, error)) (reads *int) {
	t.Helper()
	reads = new(int)
	orig := fileNowAt
	fileNowAt = func(int, string) (time.Time, error) {
		*reads++
		return now()
	}
	t.Cleanup(func() { fileNowAt = orig })
	return reads
}

// writeTemps makes a file in dir for each name, last modified at its time.
func writeTemps(t *testing.T, dir string, files map[string]time.Time) {
	t.Helper()
	for name, mtime := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
}

// names lists dir.
func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	return got
}

// staleSweeps are RemoveStaleTemps and RemoveStaleTempsIn, of the
// temporary files of job.json in dir.
var staleSweeps = map[string]func(t *testing.T, dir string) int{
	"RemoveStaleTemps": func(t *testing.T, dir string) int {
		return RemoveStaleTemps(dir, func(name string) bool { return name == "job.json" }, StaleTempAge)
	},
	"RemoveStaleTempsIn": func(t *testing.T, dir string) int {
		root, err := os.OpenRoot(filepath.Dir(dir))
		if err != nil {
			t.Fatal(err)
		}
		defer root.Close()
		return RemoveStaleTempsIn(root, filepath.Base(dir), func(name string) bool { return name == "job.json" })
	},
}

// TestFreshTempKeptByACallerWhoseClockRunsAhead: the sweeps counted a
// temporary file's age on the caller's own clock from its modification
// time, which the filesystem stamps on its clock: a server sharing the
// directory whose clock ran more than an hour ahead of the filesystem's
// removed the file another server was filling (its write then failed).
// The age is now counted on the filesystem's clock, read in the
// directory swept: with it two hours behind the caller's, a file stamped
// now on it stays, one stale on it goes, and the clock is read once.
func TestFreshTempKeptByACallerWhoseClockRunsAhead(t *testing.T) {
	for name, sweep := range staleSweeps {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "d")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			files := time.Now().Add(-2 * StaleTempAge)
			reads := setFileClock(t, func() (time.Time, error) { return files, nil })
			writeTemps(t, dir, map[string]time.Time{
				".job.json.tmp-1": files,                        // being written
				".job.json.tmp-2": files.Add(-2 * StaleTempAge), // a killed writer's
				".job.json.tmp-3": files.Add(-StaleTempAge / 2), // being written
				".job.json.tmp-4": files.Add(-3 * StaleTempAge), // a killed writer's
			})
			if n := sweep(t, dir); n != 2 {
				t.Errorf("removed %d; want the 2 stale on the filesystem's clock", n)
			}
			if got, want := names(t, dir), []string{".job.json.tmp-1", ".job.json.tmp-3"}; !slices.Equal(got, want) {
				t.Errorf("left %q; want %q", got, want)
			}
			if *reads != 1 {
				t.Errorf("the filesystem's clock read %d times; want once a call", *reads)
			}
		})
	}
}

// TestNoTempStaleWithoutTheFilesystemsClock: where the filesystem's
// clock cannot be read (no probe can be made in the directory), no file's
// age is known, and none is removed, however old on the caller's clock: a
// later call removes them.
func TestNoTempStaleWithoutTheFilesystemsClock(t *testing.T) {
	for name, sweep := range staleSweeps {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "d")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			setFileClock(t, func() (time.Time, error) { return time.Time{}, os.ErrPermission })
			old := time.Now().Add(-48 * time.Hour)
			writeTemps(t, dir, map[string]time.Time{".job.json.tmp-1": old, ".job.json.tmp-2": old})
			if n := sweep(t, dir); n != 0 {
				t.Errorf("removed %d without the filesystem's clock; want none", n)
			}
			if got := names(t, dir); len(got) != 2 {
				t.Errorf("left %q; want both", got)
			}
		})
	}
}

// TestStaleTempsSweptWhenTheDiskIsFull: where the probe could not be
// made for want of space (ENOSPC, EDQUOT), no temporary file was removed,
// while stale ones may be what fills the disk. The ages are counted on
// the caller's own clock then, against twice the stale age, for the skew
// between it and the filesystem's: a file two days old goes, one 90
// minutes old (stale on the filesystem's clock, perhaps, but within the
// margin) stays.
func TestStaleTempsSweptWhenTheDiskIsFull(t *testing.T) {
	for _, full := range []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT} {
		for name, sweep := range staleSweeps {
			t.Run(full.Error()+"/"+name, func(t *testing.T) {
				dir := filepath.Join(t.TempDir(), "d")
				if err := os.Mkdir(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				reads := setFileClock(t, func() (time.Time, error) {
					return time.Time{}, &fs.PathError{Op: "createtemp", Path: filepath.Join(dir, ".clock.tmp-1"), Err: full}
				})
				now := time.Now()
				writeTemps(t, dir, map[string]time.Time{
					".job.json.tmp-1": now.Add(-48 * time.Hour),
					".job.json.tmp-2": now.Add(-90 * time.Minute),
				})
				if n := sweep(t, dir); n != 1 {
					t.Errorf("removed %d with the disk full; want the one two days old", n)
				}
				if got, want := names(t, dir), []string{".job.json.tmp-2"}; !slices.Equal(got, want) {
					t.Errorf("left %q; want %q", got, want)
				}
				if *reads != 1 {
					t.Errorf("the filesystem's clock tried %d times; want once a call", *reads)
				}
			})
		}
	}
}

// TestSweepWithNoTempMakesNoProbe: a directory with no temporary file of
// a target has no age to tell, and costs no probe.
func TestSweepWithNoTempMakesNoProbe(t *testing.T) {
	for name, sweep := range staleSweeps {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "d")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			reads := setFileClock(t, func() (time.Time, error) { return time.Now(), nil })
			old := time.Now().Add(-48 * time.Hour)
			writeTemps(t, dir, map[string]time.Time{"job.json": old, ".other.tmp-1": old})
			if n := sweep(t, dir); n != 0 || *reads != 0 {
				t.Errorf("removed %d, read the clock %d times; want neither", n, *reads)
			}
		})
	}
}

// TestProbeReadsTheFilesystemsNowAndLeavesNothing: the probe's time is
// the filesystem's now (on one machine, the kernel's, which is the
// test's too), its file is removed at once, and a probe a killed caller
// left is removed once stale, while another's fresh one stays.
func TestProbeReadsTheFilesystemsNowAndLeavesNothing(t *testing.T) {
	for name, sweep := range staleSweeps {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "d")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			var read []time.Time
			orig := fileNowAt
			fileNowAt = func(fd int, dir string) (time.Time, error) {
				now, err := probeNowAt(fd, dir)
				read = append(read, now)
				return now, err
			}
			t.Cleanup(func() { fileNowAt = orig })
			now := time.Now()
			writeTemps(t, dir, map[string]time.Time{
				".clock.tmp-1":    now.Add(-2 * StaleTempAge), // a killed caller's
				".clock.tmp-2":    now,                        // another caller's
				".job.json.tmp-3": now.Add(-2 * StaleTempAge),
			})
			before := time.Now()
			n := sweep(t, dir)
			after := time.Now()
			if n != 2 {
				t.Errorf("removed %d; want the stale probe and the stale temporary file", n)
			}
			if got, want := names(t, dir), []string{".clock.tmp-2"}; !slices.Equal(got, want) {
				t.Errorf("left %q; want %q", got, want)
			}
			// The filesystem stamps times off a coarse clock, behind
			// the process's by up to a tick.
			if len(read) != 1 || read[0].Before(before.Add(-time.Second)) || read[0].After(after) {
				t.Errorf("the probe read %v; want once, between %v and %v", read, before, after)
			}
		})
	}
}

// TestFileNowInNamesTheDirectory: a probe that cannot be made fails
// naming the directory it was to be made in.
func TestFileNowInNamesTheDirectory(t *testing.T) {
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if _, err := FileNowIn(root, "missing"); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "missing") {
		t.Errorf("FileNowIn of a missing directory = %v; want not found, naming it", err)
	}
	now, err := FileNowIn(root, ".")
	if err != nil || now.IsZero() {
		t.Errorf("FileNowIn = %v, %v", now, err)
	}
	if got := names(t, dir); len(got) != 0 {
		t.Errorf("left %q", got)
	}
}
