package local_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/local"
)

// unreadableEntries names the entries the server keeps in the state
// directory of jobs whose lock and record it found both unreadable.
func unreadableEntries(t *testing.T, state string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(state, "unreadable"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// statusOf is b's Status of the job h, which must answer.
func statusOf(t *testing.T, b *local.Local, h string) backend.Status {
	t.Helper()
	var st backend.Status
	err := inTime(t, "Status", func() (err error) {
		st, err = b.Status(context.Background(), h)
		return err
	})
	if err != nil {
		t.Fatalf("Status of a job whose lock and record are kept unreadable: %v", err)
	}
	return st
}

// TestCleanRemovesTheUnreadableEntryOfALostJob: a job read as lost
// because a workload kept its lock and record unreadable keeps the time
// the server first found them so, in the state directory, so that it never
// reads as starting again; nothing removed it, one file a job for good.
// Clean, called once the job's run has moved on, now removes it.
func TestCleanRemovesTheUnreadableEntryOfALostJob(t *testing.T) {
	state := t.TempDir()
	b := newLocal(t, state)
	now := time.Now()
	local.SetFileClock(b, func() time.Time { return now })
	h := endedJob(t, b, backend.Spec{RunID: "lostclean", Attempt: 1, Command: []string{"true"}})
	dir := pidlessJob(t, b, h, 0)
	keptUnreadable(t, filepath.Join(dir, "lock"), filepath.Join(dir, "job.json"))
	if st := statusOf(t, b, h); st.State != backend.Pending {
		t.Fatalf("at first: %+v, want starting", st)
	}
	now = now.Add(11 * time.Second)
	if st := statusOf(t, b, h); st.State != backend.Lost {
		t.Fatalf("11 s on: %+v, want lost", st)
	}
	if kept := unreadableEntries(t, state); len(kept) != 1 {
		t.Fatalf("the lost job: the server keeps %v; want its one entry", kept)
	}
	if err := inTime(t, "Clean", func() error { return b.Clean(context.Background(), h) }); err != nil {
		t.Fatalf("Clean of the lost job: %v", err)
	}
	if kept := unreadableEntries(t, state); len(kept) != 0 {
		t.Fatalf("after Clean of the lost job: the server keeps %v; want none", kept)
	}
}

// TestStartSweepsUnreadableEntriesOfJobsNoLongerThere: an entry whose
// job's directory is gone (removed by hand) was kept for good. A start
// now removes it, and keeps the entry of a job that is there and a
// temporary file another server may be filling.
func TestStartSweepsUnreadableEntriesOfJobsNoLongerThere(t *testing.T) {
	state := t.TempDir()
	b := newLocal(t, state)
	h := endedJob(t, b, backend.Spec{RunID: "stillthere", Attempt: 1, Command: []string{"true"}})
	entry := func(name string) {
		data, err := json.Marshal(map[string]any{"dev": 1, "ino": 2, "at": time.Now().UTC()})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(state, "unreadable", name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	orphan, temp := "gone-1", ".gone-2.tmp-12345"
	for _, name := range []string{h, orphan, temp} {
		entry(name)
	}
	newLocal(t, state)
	kept := map[string]bool{}
	for _, name := range unreadableEntries(t, state) {
		kept[name] = true
	}
	if kept[orphan] || !kept[h] || !kept[temp] || len(kept) != 2 {
		t.Fatalf("after a start the server keeps %v; want %s's entry and %s, not %s's", kept, h, temp, orphan)
	}
}

// TestJobKeptUnreadableBoundedAcrossSkewedServers: servers sharing a state
// directory each compared their own clock with the time another kept: one
// whose clock was ahead of the first's by more than the 10 s bound read
// the job as lost at its first look, and one behind wrote its own time
// back, which the first then read as long past. Both times are now read
// off the state directory's filesystem clock, one for all of them: each
// server reads the job as starting for the same 10 s, and as lost after.
func TestJobKeptUnreadableBoundedAcrossSkewedServers(t *testing.T) {
	state := t.TempDir()
	files := time.Now()
	servers := skewedServers(t, state, &files)
	h := endedJob(t, servers["on time"], backend.Spec{RunID: "skewed", Attempt: 1, Command: []string{"true"}})
	dir := pidlessJob(t, servers["on time"], h, 0)
	keptUnreadable(t, filepath.Join(dir, "lock"), filepath.Join(dir, "job.json"))
	// Behind first: its write is what the others read next.
	startingFor10s(t, servers, h, &files, "on time", "an hour behind", "an hour ahead", "on time")
}

// TestUnreadableTimeAheadOfTheClockIsBounded: a time kept that lies after
// the filesystem's clock (that clock set back, or a time a server kept on
// its own clock before) neither reads as past the bound nor keeps the job
// starting for good: the count starts again from now.
func TestUnreadableTimeAheadOfTheClockIsBounded(t *testing.T) {
	state := t.TempDir()
	b := newLocal(t, state)
	now := time.Now()
	local.SetFileClock(b, func() time.Time { return now })
	h := endedJob(t, b, backend.Spec{RunID: "ahead", Attempt: 1, Command: []string{"true"}})
	dir := pidlessJob(t, b, h, 0)
	keptUnreadable(t, filepath.Join(dir, "lock"), filepath.Join(dir, "job.json"))
	if st := statusOf(t, b, h); st.State != backend.Pending {
		t.Fatalf("at first: %+v, want starting", st)
	}
	now = now.Add(-time.Hour)
	if st := statusOf(t, b, h); st.State != backend.Pending {
		t.Fatalf("the clock set back an hour: %+v, want starting", st)
	}
	now = now.Add(11 * time.Second)
	if st := statusOf(t, b, h); st.State != backend.Lost {
		t.Fatalf("11 s after the clock was set back: %+v, want lost", st)
	}
}

// TestFileNowLeavesNoProbe: the filesystem's clock is read off a file
// made in the state directory, which is removed once read; its time is
// the machine's for a local directory.
func TestFileNowLeavesNoProbe(t *testing.T) {
	state := t.TempDir()
	b := newLocal(t, state)
	before := time.Now().Add(-time.Minute)
	now, err := local.FileNow(b)
	if err != nil {
		t.Fatal(err)
	}
	if now.Before(before) || now.After(time.Now().Add(time.Minute)) {
		t.Fatalf("the filesystem's clock reads %v; want the machine's (%v)", now, time.Now())
	}
	if kept := unreadableEntries(t, state); len(kept) != 0 {
		t.Fatalf("after reading the clock the state directory keeps %v; want nothing", kept)
	}
}

// TestJobWithReadableRecordBoundedAcrossSkewedServers: where a job's lock
// cannot be read but its record can, the launch the record names (on the
// launching server's clock) was compared with the reading server's own
// clock: one an hour ahead read the job lost at its first look, while a
// Submit could still be launching it, and one an hour behind read it
// starting for an hour. The launch is now also recorded on the state
// directory's filesystem clock, and compared with that clock's now: every
// server reads the job as starting for the same 10 s, and as lost after.
func TestJobWithReadableRecordBoundedAcrossSkewedServers(t *testing.T) {
	state := t.TempDir()
	files := time.Now()
	servers := skewedServers(t, state, &files)
	h := endedJob(t, servers["on time"], backend.Spec{RunID: "skewedrecord", Attempt: 1, Command: []string{"true"}})
	dir := filepath.Join(state, "jobs", h)
	for _, f := range []string{"pid", "exitcode"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	keptUnreadable(t, filepath.Join(dir, "lock"))
	startingFor10s(t, servers, h, &files, "on time", "an hour ahead", "an hour behind")
}

// TestReadableRecordAheadOfTheFilesystemClockIsBounded: a launch kept on
// the filesystem's clock that lies after that clock's now (the clock set
// back since) is not counted on it, which would keep the job starting for
// as long as the clock was set back: it is counted on the server's own
// clock, as a record without it is, and the job reads lost 10 s on.
func TestReadableRecordAheadOfTheFilesystemClockIsBounded(t *testing.T) {
	b := newLocal(t, t.TempDir())
	now := time.Now()
	local.SetClock(b, func() time.Time { return now })
	h := endedJob(t, b, backend.Spec{RunID: "fileclockback", Attempt: 1, Command: []string{"true"}})
	dir := pidlessJob(t, b, h, 0)
	local.SetFileClock(b, func() time.Time { return now.Add(-time.Hour) })
	keptUnreadable(t, filepath.Join(dir, "lock"))
	if st := statusOf(t, b, h); st.State != backend.Pending {
		t.Fatalf("at first: %+v, want starting", st)
	}
	now = now.Add(11 * time.Second)
	if st := statusOf(t, b, h); st.State != backend.Lost {
		t.Fatalf("11 s on, the filesystem's clock an hour behind the launch: %+v, want lost", st)
	}
}

// skewedServers stands three servers on the state directory state, one on
// time, one an hour ahead and one an hour behind, sharing the filesystem
// clock *files.
func skewedServers(t *testing.T, state string, files *time.Time) map[string]*local.Local {
	t.Helper()
	servers := map[string]*local.Local{}
	for name, skew := range map[string]time.Duration{"on time": 0, "an hour ahead": time.Hour, "an hour behind": -time.Hour} {
		b := newLocal(t, state)
		local.SetClock(b, func() time.Time { return time.Now().Add(skew) })
		local.SetFileClock(b, func() time.Time { return *files })
		servers[name] = b
	}
	return servers
}

// startingFor10s checks that each of servers, asked in order, reads job h
// as starting at first and 9 s on the filesystem clock *files, and as lost
// 11 s on.
func startingFor10s(t *testing.T, servers map[string]*local.Local, h string, files *time.Time, order ...string) {
	t.Helper()
	look := func(when string, want backend.State) {
		t.Helper()
		for _, name := range order {
			if st := statusOf(t, servers[name], h); st.State != want {
				t.Fatalf("%s, the server %s: %+v, want %s", when, name, st, want)
			}
		}
	}
	look("at first", backend.Pending)
	*files = files.Add(9 * time.Second)
	look("9 s on", backend.Pending)
	*files = files.Add(2 * time.Second)
	look("11 s on", backend.Lost)
}
