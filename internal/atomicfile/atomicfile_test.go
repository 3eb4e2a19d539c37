package atomicfile

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestWriteFileReplacesWhole(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	for _, content := range []string{"first version\n", "2\n"} {
		if err := WriteFile(path, []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("read %q, %v; want %q", got, err, content)
		}
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v, %v; want 0640", fi.Mode(), err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only the file (temp files left?)", len(entries))
	}
}

func TestWriteFileMissingDirFailsCleanly(t *testing.T) {
	if err := WriteFile(filepath.Join(t.TempDir(), "no", "f"), []byte("x"), 0o644); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
}

func TestCreateFileOnlyOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := 0
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ok, err := CreateFile(path, []byte(fmt.Sprintf("writer %d\n", i)), 0o600)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				created++
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	if created != 1 {
		t.Fatalf("%d writers created the file, want 1", created)
	}
	first, _ := os.ReadFile(path)
	if ok, err := CreateFile(path, []byte("late\n"), 0o600); ok || err != nil {
		t.Errorf("create over an existing file: %v %v", ok, err)
	}
	if again, _ := os.ReadFile(path); string(again) != string(first) {
		t.Errorf("existing file changed: %q then %q", first, again)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".key.tmp-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestMkdirAllSyncsEachNewDirectoryIntoItsParent(t *testing.T) {
	var synced []string
	SyncHook = func(dir string) { synced = append(synced, dir) }
	t.Cleanup(func() { SyncHook = nil })
	root := t.TempDir()
	dir := filepath.Join(root, "a", "b", "c")
	if err := MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// root, already there, is synced into its own parent first: whoever
	// made it may have been killed before it synced it.
	want := []string{filepath.Dir(root), root, filepath.Join(root, "a"), filepath.Join(root, "a", "b")}
	if fmt.Sprint(synced) != fmt.Sprint(want) {
		t.Errorf("synced %q, want %q", synced, want)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() || fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("made %v, %v; want a 0700 directory", fi, err)
	}
	synced = nil
	if err := MkdirAll(dir, 0o700); err != nil || len(synced) != 0 {
		t.Errorf("again: %v, synced %q; want nothing synced (this process made it durable)", err, synced)
	}
	file := filepath.Join(root, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := MkdirAll(filepath.Join(file, "d"), 0o700); err == nil {
		t.Error("MkdirAll under a file succeeded")
	}
	if err := MkdirAll(file, 0o700); err == nil {
		t.Error("MkdirAll over a file succeeded")
	}
}

// crashWriterEnv names the file a child process of
// TestKilledWriterLeavesOldOrNew rewrites until it is killed.
const crashWriterEnv = "ATOMICFILE_CRASH_WRITER"

// crashVersion is version i of the file: large enough that a write takes
// several system calls, and each byte names its version.
func crashVersion(i int) []byte {
	b := make([]byte, 256<<10)
	for j := range b {
		b[j] = byte('a' + i%26)
	}
	return b
}

func TestMain(m *testing.M) {
	if path := os.Getenv(crashWriterEnv); path != "" {
		for i := 1; ; i++ {
			if err := WriteFile(path, crashVersion(i), 0o600); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
	}
	os.Exit(m.Run())
}

// TestKilledWriterLeavesOldOrNew kills a process rewriting a file with
// SIGKILL at varying points, and reads the file after each kill: it holds
// one whole version, never a part of one or a mix, and what the killed
// writer left behind is only its hidden temporary file.
func TestKilledWriterLeavesOldOrNew(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	if err := WriteFile(path, crashVersion(0), 0o600); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 12; round++ {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), crashWriterEnv+"="+path)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(5+round*7) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if len(got) != len(crashVersion(0)) || strings.Trim(string(got), string(got[:1])) != "" {
			t.Fatalf("round %d: torn file: %d bytes, starting %q", round, len(got), got[:min(len(got), 8)])
		}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if e.Name() != "state.json" && !strings.HasPrefix(e.Name(), ".state.json.tmp-") {
				t.Fatalf("round %d: unexpected file %s", round, e.Name())
			}
		}
	}
}

func TestRemoveTempsRemovesOnlyThePathsTemps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "list.json")
	if err := WriteFile(path, []byte("whole\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keep := []string{"list.json", "list.json.tmp-1", ".list.json.tmp-", ".list.jsonx.tmp-1", ".other.json.tmp-1"}
	for _, name := range keep[1:] {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{".list.json.tmp-123", ".list.json.tmp-456"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("torn"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, ".list.json.tmp-dir"), 0o700); err != nil {
		t.Fatal(err)
	}
	keep = append(keep, ".list.json.tmp-dir")
	if n := RemoveTemps(path); n != 2 {
		t.Errorf("removed %d, want 2", n)
	}
	entries, _ := os.ReadDir(dir)
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	slices.Sort(left)
	slices.Sort(keep)
	if !slices.Equal(left, keep) {
		t.Errorf("left %q, want %q", left, keep)
	}
	if got, _ := os.ReadFile(path); string(got) != "whole\n" {
		t.Errorf("the file itself: %q", got)
	}
}

func TestRemoveStaleTempsLeavesFreshAndForeign(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-2 * StaleTempAge)
	mk := func(name string, mtime time.Time) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	mk(".job.json.tmp-111", old)        // a killed writer's: removed
	mk(".job.json.tmp-222", time.Now()) // a writer filling it now: kept
	mk(".other.tmp-333", old)           // not a file named: kept
	mk(".job.json.tmp-x1", old)         // not os.CreateTemp's digits: kept
	mk("victim", old)                   // what a link points to: kept
	if err := os.Symlink("victim", filepath.Join(dir, ".job.json.tmp-444")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, ".job.json.tmp-555"), 0o700); err != nil {
		t.Fatal(err)
	}
	n := RemoveStaleTemps(dir, func(name string) bool { return name == "job.json" }, StaleTempAge)
	if n != 1 {
		t.Errorf("removed %d, want 1", n)
	}
	var left []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		left = append(left, e.Name())
	}
	want := []string{".job.json.tmp-222", ".job.json.tmp-444", ".job.json.tmp-555", ".job.json.tmp-x1", ".other.tmp-333", "victim"}
	if !slices.Equal(left, want) {
		t.Errorf("left %q, want %q", left, want)
	}
}

// TestRemoveStaleTempsAtCountsOnTheGivenClock: a file's age is counted
// from the now given (the filesystem's clock, two hours behind the
// caller's here), not the caller's own clock: one stamped just now on
// that clock stays, one stale on it goes.
func TestRemoveStaleTempsAtCountsOnTheGivenClock(t *testing.T) {
	dir := t.TempDir()
	files := time.Now().Add(-2 * StaleTempAge)
	for name, mtime := range map[string]time.Time{".job.json.tmp-1": files, ".job.json.tmp-2": files.Add(-2 * StaleTempAge)} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	n := RemoveStaleTempsAt(dir, func(name string) bool { return name == "job.json" }, StaleTempAge, files)
	if _, err := os.Lstat(filepath.Join(dir, ".job.json.tmp-1")); n != 1 || err != nil {
		t.Errorf("removed %d (the fresh one: %v); want only the stale one", n, err)
	}
}

func TestRemoveTempsReadsABoundedDirectory(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < MaxTempScan+500; i++ {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf(".f.tmp-%d", i)), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if n := RemoveTemps(filepath.Join(dir, "f")); n != MaxTempScan {
		t.Errorf("removed %d, want %d (the entries read)", n, MaxTempScan)
	}
	if n := RemoveTemps(filepath.Join(dir, "f")); n != 500 {
		t.Errorf("then removed %d, want the 500 left", n)
	}
}
