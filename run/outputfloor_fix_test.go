package run

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAgentLogsUnreadableRecordCutsNothing: a record of what was synced
// that is there but cannot be read (here a directory stands where it
// goes) is not taken for a missing one. It was: a post at offset 0 whose
// sync failed then cut the file back to its offset, and bytes answered
// 200 were lost. Now the post is answered 500 and nothing is cut, and the
// record's path is logged once for the attempt, not at every post.
func TestAgentLogsUnreadableRecordCutsNothing(t *testing.T) {
	f := newOutputFleet(t, 1<<20)
	var logged syncBuffer
	f.cfg.Logger = slog.New(slog.NewTextHandler(&logged, nil))
	f.restart()
	r := f.run("t1", "r1", Running)
	failNext := failSyncOnce(t)
	a := bytes.Repeat([]byte("step 1 loss 0.9\n"), 64)
	b := bytes.Repeat([]byte("step 2 loss 0.5\n"), 64)
	for _, d := range [][]byte{a, b} {
		if code, _ := f.post(r, d); code != 200 {
			t.Fatalf("post: %d", code)
		}
	}
	path := f.c.logPath(r.ID, 1)
	if err := os.Remove(floorPath(path)); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(floorPath(path), 0o700); err != nil {
		t.Fatal(err)
	}
	f.restart()
	failNext()
	if code := postOffset(f, r, 0, a); code != 500 {
		t.Fatalf("a post at offset 0 whose record could not be read: %d, want 500", code)
	}
	want := append(slices.Clone(a), b...)
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("after a post at offset 0 whose record could not be read the file holds %d bytes (%v), want the %d acknowledged", len(got), err, len(want))
	}
	if code := postOffset(f, r, int64(len(want)), a); code != 500 {
		t.Fatalf("the agent's next post, its record still unreadable: %d, want 500", code)
	}
	var named int
	for _, l := range strings.Split(logged.String(), "\n") {
		if strings.Contains(l, "record="+floorPath(path)) {
			named++
		}
	}
	if named != 1 {
		t.Errorf("the record's path is logged as the record %d times over two posts, want once:\n%s", named, logged.String())
	}
}

// TestAgentLogsRecordNotOfTheFileIgnored: a record beside the output file
// that is not of it, or says more than it holds, or does not parse, is no
// floor: a post that finds bytes past what was acknowledged (a post cut
// off before its sync, here by a restart), its sync of them failing,
// cuts the file back to its offset, as where there is no record. Taken
// on trust, a record of another file (a file made again with a removed
// one's inode number, here shown by its birth time) saying the file's
// length made the post take the unsynced bytes as on disk.
func TestAgentLogsRecordNotOfTheFileIgnored(t *testing.T) {
	first := bytes.Repeat([]byte("step 1 loss 0.9\n"), 64)
	line := bytes.Repeat([]byte("step 2 loss 0.5\n"), 64)
	have := int64(len(first) + len(line))
	for _, c := range []struct {
		name string
		// record is the record written beside the file, found as id; it
		// skips t, the subtest, where it cannot be made.
		record func(t *testing.T, id fileIdent) string
	}{
		{"another inode", func(t *testing.T, id fileIdent) string {
			return fmt.Sprintf(floorRecord, have, id.ino+1, id.birth)
		}},
		{"born at another time", func(t *testing.T, id fileIdent) string {
			if id.birth == 0 {
				t.Skip("the filesystem keeps no birth time")
			}
			return fmt.Sprintf(floorRecord, have, id.ino, id.birth-1)
		}},
		{"past the file's end", func(t *testing.T, id fileIdent) string {
			return fmt.Sprintf(floorRecord, have+1, id.ino, id.birth)
		}},
		{"garbled", func(t *testing.T, id fileIdent) string {
			return strings.Replace(fmt.Sprintf(floorRecord, have, id.ino, id.birth), "0", "x", 1)
		}},
		{"short", func(t *testing.T, id fileIdent) string {
			return fmt.Sprintf("synced %d inode %d birth %d\n", have, id.ino, id.birth)
		}},
		{"an older layout", func(t *testing.T, id fileIdent) string {
			return fmt.Sprintf("%020d %020d %020d\n", have, 1, id.ino)
		}},
		{"the layout with the device", func(t *testing.T, id fileIdent) string {
			return fmt.Sprintf("%020d %020d %020d %020d\n", have, 1, id.ino, id.birth)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newOutputFleet(t, 1<<20)
			r := f.run("t1", "r1", Running)
			failNext := failSyncOnce(t)
			if code, _ := f.post(r, first); code != 200 {
				t.Fatalf("first post: %d", code)
			}
			path := f.c.logPath(r.ID, 1)
			appendUnsynced(t, path, line)
			g, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			id := identOf(g, mustStat(t, path))
			g.Close()
			if err := os.WriteFile(floorPath(path), []byte(c.record(t, id)), 0o600); err != nil {
				t.Fatal(err)
			}
			f.restart()
			failNext()
			if code := postOffset(f, r, int64(len(first)), line); code != 500 {
				t.Fatalf("a repeat whose sync of the found bytes failed: %d, want 500", code)
			}
			if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, first) {
				t.Errorf("after the repeat the file holds %d bytes, %d of them zero (%v), want the %d acknowledged",
					len(got), bytes.Count(got, []byte{0}), err, len(first))
			}
		})
	}
}

// TestOutputFloorNotWrittenForAMovedFile: a post still running on an
// output file whose run's output was removed (its directory moved away)
// writes no record of it where the file was: a directory made again
// there held a record of the removed file, by its device and inode, which
// a file made again with its inode number was taken for.
func TestOutputFloorNotWrittenForAMovedFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out", "attempt-1.log")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte("step 1\n")); err != nil {
		t.Fatal(err)
	}
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Dir(path), filepath.Join(dir, "removed")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := writeFloor(f, path, fi, fi.Size()); err == nil {
		t.Errorf("a record written for a moved file, want errOutputMoved")
	}
	if _, err := os.Lstat(floorPath(path)); err == nil {
		t.Errorf("a record of the moved file is in the directory made again")
	}
}

// TestAgentLogsRecordNotARegularFile: a FIFO where the record of what was
// synced goes is refused as a record that cannot be read or written: the
// post is answered 500. Its open waited for the other end for ever, and
// the post with it, holding its attempt's file lock: every later post of
// the attempt was answered 503 from then on.
func TestAgentLogsRecordNotARegularFile(t *testing.T) {
	a := bytes.Repeat([]byte("step 1 loss 0.9\n"), 64)
	// post posts data at off, and answers its status, failing the test
	// where it is not answered in a bound far past any sync's; the FIFO
	// at record is opened from the other end (flag) then, to let it go.
	post := func(t *testing.T, f *outputFleet, r *Run, off int64, record string, flag int) int {
		t.Helper()
		code := make(chan int, 1)
		go func() { code <- postOffset(f, r, off, a) }()
		select {
		case c := <-code:
			return c
		case <-time.After(20 * time.Second):
			if g, err := os.OpenFile(record, flag|syscall.O_NONBLOCK, 0); err == nil {
				g.Close()
			}
			t.Fatalf("a post whose record is a FIFO is not answered: it waits for the FIFO's other end")
			return 0
		}
	}
	t.Run("read", func(t *testing.T) {
		f := newOutputFleet(t, 1<<20)
		r := f.run("t1", "r1", Running)
		if code, _ := f.post(r, a); code != 200 {
			t.Fatalf("post: %d", code)
		}
		path := f.c.logPath(r.ID, 1)
		if err := os.Remove(floorPath(path)); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(floorPath(path), 0o600); err != nil {
			t.Fatal(err)
		}
		// Restarted, the server reads the record at the next post.
		f.restart()
		if code := post(t, f, r, int64(len(a)), floorPath(path), os.O_WRONLY); code != 500 {
			t.Errorf("a post whose record is a FIFO: %d, want 500", code)
		}
		if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, a) {
			t.Errorf("after a post whose record is a FIFO the file holds %d bytes (%v), want the %d acknowledged", len(got), err, len(a))
		}
	})
	t.Run("write", func(t *testing.T) {
		f := newOutputFleet(t, 1<<20)
		r := f.run("t1", "r1", Running)
		path := f.c.logPath(r.ID, 1)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(floorPath(path), 0o600); err != nil {
			t.Fatal(err)
		}
		if code := post(t, f, r, 0, floorPath(path), os.O_RDONLY); code != 500 {
			t.Errorf("a post whose record is a FIFO: %d, want 500", code)
		}
	})
}
