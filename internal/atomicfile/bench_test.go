package atomicfile

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// BenchmarkWriteFileIn: what one record written below a root costs (a
// job's record, jobs/KEY/jobid: temporary file, fsync, rename, fsync of
// the directory).
func BenchmarkWriteFileIn(b *testing.B) {
	state := b.TempDir()
	if err := os.MkdirAll(filepath.Join(state, "jobs", "r1-1"), 0o700); err != nil {
		b.Fatal(err)
	}
	root, err := os.OpenRoot(state)
	if err != nil {
		b.Fatal(err)
	}
	defer root.Close()
	name := filepath.Join("jobs", "r1-1", "jobid")
	for b.Loop() {
		if err := WriteFileIn(root, name, []byte("4242\n"), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRemoveStaleTemps: what one removal of stale temporary files
// costs in a directory of 100 records, with no temporary file among them
// (the usual case) and with one fresh one (being written), whose age must
// be told.
func BenchmarkRemoveStaleTemps(b *testing.B) {
	for _, c := range []struct {
		name  string
		temps int
	}{{"none", 0}, {"one_fresh", 1}} {
		b.Run(c.name, func(b *testing.B) {
			dir := b.TempDir()
			for i := range 100 {
				if err := os.WriteFile(filepath.Join(dir, "r"+strconv.Itoa(i)), []byte("x"), 0o600); err != nil {
					b.Fatal(err)
				}
			}
			for i := range c.temps {
				if err := os.WriteFile(filepath.Join(dir, ".job.json.tmp-"+strconv.Itoa(i)), []byte("x"), 0o600); err != nil {
					b.Fatal(err)
				}
			}
			target := func(name string) bool { return name == "job.json" }
			for b.Loop() {
				if n := RemoveStaleTemps(dir, target, StaleTempAge); n != 0 {
					b.Fatalf("removed %d", n)
				}
			}
		})
	}
}

// BenchmarkProbeNow: what one read of the filesystem's clock costs (a
// file made, its times read, the file removed), which RemoveStaleTemps
// adds to a sweep that finds a temporary file to tell the age of.
func BenchmarkProbeNow(b *testing.B) {
	d, err := OpenDir(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	for b.Loop() {
		if _, err := probeNowAt(int(d.Fd()), d.Name()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMkdirAllExisting: what MkdirAll of a directory already there
// costs, as each post of an attempt's output calls it on the attempt's
// directory: a stat, and since its parent is synced once per process
// (SyncEntry), a lookup in the memo of entries made durable.
func BenchmarkMkdirAllExisting(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "logs", "r1")
	if err := MkdirAll(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := MkdirAll(dir, 0o700); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMkdirAllExistingSiblings: what a restarted server's first
// MkdirAll of each of 1000 directories already there in one parent (an
// attempt's directory each) costs in all: each is synced into its parent
// once per process (SyncEntry), the memo emptied between iterations as a
// restart empties it.
func BenchmarkMkdirAllExistingSiblings(b *testing.B) {
	dirs := makeSiblings(b, b.TempDir(), 1000)
	for b.Loop() {
		forgetDurable()
		for _, d := range dirs {
			if err := MkdirAll(d, 0o700); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkForgetFullMemo: what a removal's Forget costs at its bound,
// both memos full (maxDurable entries each), none of them under the path.
func BenchmarkForgetFullMemo(b *testing.B) {
	forgetDurable()
	b.Cleanup(forgetDurable)
	durable.Lock()
	durable.m = make(map[string]fileID, maxDurable)
	for i := range maxDurable - 1 {
		durable.m["/state/logs/run-"+strconv.Itoa(i)+"/attempt-1.log"] = fileID{ino: uint64(i)}
	}
	durable.Unlock()
	dirsSynced.Lock()
	dirsSynced.m = make(map[string]dirSync, maxDurable)
	for i := range maxDurable - 1 {
		dirsSynced.m["/state/logs/run-"+strconv.Itoa(i)] = dirSync{id: fileID{ino: uint64(i)}}
	}
	dirsSynced.Unlock()
	for b.Loop() {
		Forget("/state/logs/run-gone")
	}
}
