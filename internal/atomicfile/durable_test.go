package atomicfile

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

// syncRecorder sets SyncHook for the test and returns a function that
// reports, and forgets, the directories synced since.
func syncRecorder(t *testing.T) func() []string {
	var synced []string
	SyncHook = func(dir string) { synced = append(synced, dir) }
	t.Cleanup(func() { SyncHook = nil })
	return func() []string {
		s := synced
		synced = nil
		return s
	}
}

// killedCreate makes path as a creator killed between its link and its
// sync of the directory leaves it: the file linked in place, the
// directory never synced.
func killedCreate(t *testing.T, path, data string) {
	t.Helper()
	tmp := path + ".killed"
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(tmp, path); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(tmp); err != nil {
		t.Fatal(err)
	}
}

// TestCreateFileSyncsAFileItsCreatorLeftUnsynced: CreateFile returned
// (false, nil) for a file already there without syncing its directory. A
// creator killed between its link and its sync (or whose sync failed)
// left a file every later caller read and used (a key) while its entry
// was in memory only: a power loss took it after use. The caller that
// finds it now syncs its directory, once per process per file.
func TestCreateFileSyncsAFileItsCreatorLeftUnsynced(t *testing.T) {
	synced := syncRecorder(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "key")
	killedCreate(t, path, "theirs\n")
	synced()
	created, err := CreateFile(path, []byte("mine\n"), 0o600)
	if err != nil || created {
		t.Fatalf("CreateFile over a file there: %v, %v", created, err)
	}
	if got := synced(); !slices.Contains(got, dir) {
		t.Errorf("the directory of a file left unsynced was not synced (synced %q)", got)
	}
	if b, _ := os.ReadFile(path); string(b) != "theirs\n" {
		t.Errorf("file changed to %q", b)
	}
	// Once per process: a second call finds it made durable.
	if _, err := CreateFile(path, []byte("mine\n"), 0o600); err != nil || len(synced()) != 0 {
		t.Errorf("second CreateFile: %v; want nothing synced again", err)
	}
	// Another file in the name (the first moved away, so that its inode
	// cannot be reused for the new one) is another entry.
	if err := os.Rename(path, filepath.Join(dir, "old")); err != nil {
		t.Fatal(err)
	}
	killedCreate(t, path, "again\n")
	if _, err := CreateFile(path, []byte("mine\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := synced(); !slices.Contains(got, dir) {
		t.Errorf("a file made again in the name was not synced (synced %q)", got)
	}
	// What this process created itself it synced, and syncs no more.
	own := filepath.Join(dir, "own")
	if created, err := CreateFile(own, []byte("x\n"), 0o600); err != nil || !created {
		t.Fatalf("CreateFile: %v, %v", created, err)
	}
	synced()
	if err := SyncEntry(own); err != nil || len(synced()) != 0 {
		t.Errorf("SyncEntry of a file this process created: %v; want nothing synced again", err)
	}
}

// TestMkdirAllSyncsADirectoryItsMakerLeftUnsynced: MkdirAll (and
// MkdirAllIn) returned at once for a directory already there. A maker
// killed between its mkdir and its sync of the parent left a directory
// every later caller wrote into while its entry was in memory only: a
// power loss took it with everything inside. Its parent is now synced by
// the caller that finds it, once per process.
func TestMkdirAllSyncsADirectoryItsMakerLeftUnsynced(t *testing.T) {
	synced := syncRecorder(t)
	root := t.TempDir()
	dir := filepath.Join(root, "a")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	synced()
	if err := MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if got := synced(); !slices.Equal(got, []string{root}) {
		t.Errorf("MkdirAll of a directory left unsynced synced %q, want %q", got, []string{root})
	}
	if err := MkdirAll(dir, 0o700); err != nil || len(synced()) != 0 {
		t.Errorf("MkdirAll again: %v; want nothing synced again", err)
	}

	r, err := os.OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := os.Mkdir(filepath.Join(root, "b"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "b", "c"), 0o700); err != nil {
		t.Fatal(err)
	}
	synced()
	if err := MkdirAllIn(r, filepath.Join("b", "c"), 0o700); err != nil {
		t.Fatal(err)
	}
	if got, want := synced(), []string{filepath.Join(root, "b")}; !slices.Equal(got, want) {
		t.Errorf("MkdirAllIn of a directory left unsynced synced %q, want %q", got, want)
	}
	if err := MkdirAllIn(r, filepath.Join("b", "c"), 0o700); err != nil || len(synced()) != 0 {
		t.Errorf("MkdirAllIn again: %v; want nothing synced again", err)
	}
}

// TestDurableMemoIsBounded: the memo of entries made durable is emptied
// once full, rather than grow with every attempt's directory; what it
// forgot is synced again.
func TestDurableMemoIsBounded(t *testing.T) {
	synced := syncRecorder(t)
	dir := t.TempDir()
	first := filepath.Join(dir, "first")
	killedCreate(t, first, "x")
	if err := SyncEntry(first); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(first)
	if err != nil {
		t.Fatal(err)
	}
	for i := range maxDurable {
		remember(filepath.Join(dir, "n", strconv.Itoa(i)), fi)
	}
	durable.Lock()
	n := len(durable.m)
	durable.Unlock()
	if n > maxDurable {
		t.Errorf("memo holds %d entries, bound %d", n, maxDurable)
	}
	synced()
	// The memo of directories synced is another one (coveredBySync):
	// forgotten too, so that what this one forgot must be synced again.
	dirsSynced.Lock()
	dirsSynced.m = nil
	dirsSynced.Unlock()
	if err := SyncEntry(first); err != nil {
		t.Fatal(err)
	}
	if got := synced(); !slices.Contains(got, dir) {
		t.Errorf("an entry the full memo forgot was not synced again (synced %q)", got)
	}
}

// TestEntryRemadeDuringItsSyncIsSyncedAgain: MkdirAll (MkdirAllIn,
// CreateFile) remembered what it made as durable by a stat taken after
// the sync of its directory, so a directory removed and made again (by
// another process) while that sync ran was remembered in its place,
// though the sync may have preceded its entry, and never synced. The
// stat is now taken before the sync: the one made again is another
// file, synced by the next call.
func TestEntryRemadeDuringItsSyncIsSyncedAgain(t *testing.T) {
	root := t.TempDir()
	// remadeDuringSync has the next sync of parent move name aside (so
	// that its inode cannot be reused) and make it again.
	remadeDuringSync := func(parent, name string, remake func(string) error) {
		done := false
		SyncHook = func(dir string) {
			if done || dir != parent {
				return
			}
			done = true
			if err := os.Rename(name, name+".aside"); err != nil {
				t.Error(err)
			}
			if err := remake(name); err != nil {
				t.Error(err)
			}
		}
	}
	mkdir := func(p string) error { return os.Mkdir(p, 0o700) }
	syncRecorder(t) // for its cleanup, which unsets SyncHook

	dir := filepath.Join(root, "a")
	remadeDuringSync(root, dir, mkdir)
	if err := MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	synced := syncRecorder(t)
	if err := MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if got := synced(); !slices.Equal(got, []string{root}) {
		t.Errorf("MkdirAll of a directory made again during the sync synced %q, want %q", got, []string{root})
	}

	r, err := os.OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	remadeDuringSync(root, filepath.Join(root, "b"), mkdir)
	if err := MkdirAllIn(r, "b", 0o700); err != nil {
		t.Fatal(err)
	}
	synced = syncRecorder(t)
	if err := MkdirAllIn(r, "b", 0o700); err != nil {
		t.Fatal(err)
	}
	if got := synced(); !slices.Equal(got, []string{root}) {
		t.Errorf("MkdirAllIn of a directory made again during the sync synced %q, want %q", got, []string{root})
	}

	key := filepath.Join(root, "key")
	remadeDuringSync(root, key, func(p string) error { return os.WriteFile(p, []byte("theirs\n"), 0o600) })
	if created, err := CreateFile(key, []byte("mine\n"), 0o600); err != nil || !created {
		t.Fatalf("CreateFile: %v, %v", created, err)
	}
	synced = syncRecorder(t)
	if err := SyncEntry(key); err != nil {
		t.Fatal(err)
	}
	if got := synced(); !slices.Equal(got, []string{root}) {
		t.Errorf("SyncEntry of a file made again during CreateFile's sync synced %q, want %q", got, []string{root})
	}
}

// forgetDurable empties this process's memos of what it made durable,
// as a restart does.
func forgetDurable() {
	durable.Lock()
	durable.m = nil
	durable.Unlock()
	dirsSynced.Lock()
	dirsSynced.m = nil
	dirsSynced.Unlock()
}

// makeSiblings makes n directories in parent, as a killed server's
// attempts leave them, and returns their paths.
func makeSiblings(tb testing.TB, parent string, n int) []string {
	tb.Helper()
	var dirs []string
	for i := range n {
		d := filepath.Join(parent, "r"+strconv.Itoa(i))
		if err := os.Mkdir(d, 0o700); err != nil {
			tb.Fatal(err)
		}
		dirs = append(dirs, d)
	}
	return dirs
}

// TestExistingSiblingsCostOneSync: each entry found already there had its
// directory synced, once per entry, so a restart over a thousand
// attempts' directories in one parent cost a thousand syncs of that
// parent (and as many again each time the memo, past maxDurable, was
// emptied). One sync of the parent now covers every entry older than
// the parent's change time read before it, while the parent is
// unchanged; an entry made there since is synced.
func TestExistingSiblingsCostOneSync(t *testing.T) {
	forgetDurable()
	parent := t.TempDir()
	dirs := makeSiblings(t, parent, 1000)
	changedAfter(t, parent, dirs)
	synced := syncRecorder(t)
	for _, d := range dirs {
		if err := MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if got := synced(); !slices.Equal(got, []string{parent}) {
		t.Errorf("MkdirAll of 1000 directories there synced %d directories, want %q once", len(got), parent)
	}
	// Made by another process after that sync: not covered by it.
	late := filepath.Join(parent, "late")
	if err := os.Mkdir(late, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := MkdirAll(late, 0o700); err != nil {
		t.Fatal(err)
	}
	if got := synced(); !slices.Equal(got, []string{parent}) {
		t.Errorf("MkdirAll of a directory made after the sync synced %q, want %q", got, []string{parent})
	}
}

// changedAfter changes dir (its mode, to what it is) until its change
// time is past that of every entry in entries, as a later removal or
// creation there would: entries made in the tick of the filesystem's
// clock that stamped dir's last change are not covered by a sync
// (coveredBySync), and a restart finds them older.
func changedAfter(t *testing.T, dir string, entries []string) {
	t.Helper()
	var newest int64
	for _, e := range entries {
		fi, err := os.Lstat(e)
		if err != nil {
			t.Fatal(err)
		}
		ct, _ := ctimeOf(fi)
		newest = max(newest, ct)
	}
	for range 10_000_000 {
		if err := os.Chmod(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if ct, ok := ctimeOf(fi); !ok || ct > newest {
			return
		}
	}
	t.Fatalf("%s's change time did not pass its entries'", dir)
}

// TestForgetSyncsAnEntryMadeAgain: an entry made again at a path whose
// tree this process removed, with the removed file's inode number (file
// systems reuse a freed one at once; here the same file, linked back),
// has its directory synced: Forget dropped what the memo held there. The
// memo took it as the file it had synced, and a power loss took it after
// its use. What the memo holds beside the path (a sibling whose name
// begins with it) is kept.
func TestForgetSyncsAnEntryMadeAgain(t *testing.T) {
	synced := syncRecorder(t)
	dir := t.TempDir()
	sub, sibling := filepath.Join(dir, "r1"), filepath.Join(dir, "r10")
	path, sibPath := filepath.Join(sub, "attempt-1.log"), filepath.Join(sibling, "attempt-1.log")
	for _, d := range []string{sub, sibling} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	killedCreate(t, path, "step 1\n")
	killedCreate(t, sibPath, "step 1\n")
	for _, p := range []string{path, sibPath} {
		if err := SyncEntry(p); err != nil {
			t.Fatal(err)
		}
	}
	if got := synced(); !slices.Contains(got, sub) || !slices.Contains(got, sibling) {
		t.Fatalf("SyncEntry of files left unsynced synced %q, want %s and %s", got, sub, sibling)
	}
	// The tree removed (renamed away, as a run's output is), and the file
	// made again at its path with its inode number.
	keep := filepath.Join(dir, "keep")
	if err := os.Link(path, keep); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(sub, filepath.Join(dir, "removed")); err != nil {
		t.Fatal(err)
	}
	Forget(sub)
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(keep, path); err != nil {
		t.Fatal(err)
	}
	if err := SyncEntry(path); err != nil {
		t.Fatal(err)
	}
	if got := synced(); !slices.Contains(got, sub) {
		t.Errorf("SyncEntry of a file made again where Forget was called synced %q, want %s", got, sub)
	}
	if err := SyncEntry(sibPath); err != nil {
		t.Fatal(err)
	}
	if got := synced(); len(got) != 0 {
		t.Errorf("SyncEntry of a sibling that Forget was not called for synced %q, want none", got)
	}
}

// TestWithin: a path lies within itself and the paths below it, not
// beside it.
func TestWithin(t *testing.T) {
	for _, c := range []struct {
		p, root string
		want    bool
	}{
		{"/s/logs/r1", "/s/logs/r1", true},
		{"/s/logs/r1/attempt-1.log", "/s/logs/r1", true},
		{"/s/logs/r10", "/s/logs/r1", false},
		{"/s/logs", "/s/logs/r1", false},
		{"/s", "/", true},
		{"rel/r1/a", "rel/r1", true},
	} {
		if got := within(c.p, c.root, below(c.root)); got != c.want {
			t.Errorf("within(%q, %q) = %v, want %v", c.p, c.root, got, c.want)
		}
	}
}
