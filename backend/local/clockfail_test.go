package local_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/backendtest"
	"meridian.dev/meridian/backend/local"
	"meridian.dev/meridian/catalog"
)

// errProbe is the failure of a read of the state directory's filesystem
// clock the tests inject.
var errProbe = errors.New("clock probe refused")

// newLogged is newLocal with the backend's log kept in the returned
// buffer.
func newLogged(t *testing.T, dir string) (*local.Local, *bytes.Buffer) {
	t.Helper()
	var log bytes.Buffer
	b, err := local.New(catalog.BackendSpec{}, dir, local.WithLogger(slog.New(slog.NewTextHandler(&log, nil))))
	if err != nil {
		t.Fatal(err)
	}
	return b, &log
}

// TestSubmitWithoutTheFilesystemClock: a Submit that could not read the
// state directory's filesystem clock (the probe file not made: a full
// disk, the unreadable directory's mode kept changed) failed, and the
// job was never launched for want of a time its readers do without. It
// now launches the job, logs that the launch is kept on the server's
// clock alone, and a job read as starting is bounded on that clock.
func TestSubmitWithoutTheFilesystemClock(t *testing.T) {
	b, log := newLogged(t, t.TempDir())
	now := time.Now()
	local.SetClock(b, func() time.Time { return now })
	local.SetFileClockFailing(b, errProbe)
	h := endedJob(t, b, backend.Spec{RunID: "noclock", Attempt: 1, Command: []string{"true"}})
	if !strings.Contains(log.String(), "kept on the server's clock alone") || !strings.Contains(log.String(), errProbe.Error()) {
		t.Fatalf("log after a Submit without the filesystem's clock: %q; want the failure told", log.String())
	}
	startingThenLost(t, b, h, func(at time.Time) { now = at })
}

// TestStatusWithoutTheFilesystemClock: a Status of a job whose lock
// could not be read, its record naming the launch on the filesystem's
// clock, failed while that clock could not be read, and the job read
// neither as starting nor as lost for as long. It is now bounded on the
// server's own clock.
func TestStatusWithoutTheFilesystemClock(t *testing.T) {
	b := newLocal(t, t.TempDir())
	now := time.Now()
	local.SetClock(b, func() time.Time { return now })
	h := endedJob(t, b, backend.Spec{RunID: "clockgone", Attempt: 1, Command: []string{"true"}})
	local.SetFileClockFailing(b, errProbe)
	startingThenLost(t, b, h, func(at time.Time) { now = at })
}

// startingThenLost has the ended job h's pid and exit code removed and
// its lock kept unreadable, its launch recorded now, and checks that it
// reads as starting, then, once setNow has set the server's clock past
// the bound, as lost.
func startingThenLost(t *testing.T, b *local.Local, h string, setNow func(time.Time)) {
	t.Helper()
	dir := pidlessJob(t, b, h, 0)
	launch := time.Now()
	setNow(launch)
	keptUnreadable(t, filepath.Join(dir, "lock"))
	if st := statusOf(t, b, h); st.State != backend.Pending {
		t.Fatalf("at first: %+v, want starting", st)
	}
	setNow(launch.Add(11 * time.Second))
	if st := statusOf(t, b, h); st.State != backend.Lost {
		t.Fatalf("11 s on: %+v, want lost", st)
	}
}

// TestStartLogsTheFilesystemClockUnread: a start that could not read the
// state directory's filesystem clock removed no temporary file killed
// writers left, rightly, but said nothing, and they stayed for as long
// as it could not. It now logs it, once.
func TestStartLogsTheFilesystemClockUnread(t *testing.T) {
	undo := local.SetStartFileClockFailing(errProbe)
	defer undo()
	_, log := newLogged(t, t.TempDir())
	if n := strings.Count(log.String(), "no temporary file killed writers left is removed"); n != 1 {
		t.Fatalf("log of a start without the filesystem's clock: %q; want the failure told once", log.String())
	}
	if !strings.Contains(log.String(), errProbe.Error()) {
		t.Fatalf("log of a start without the filesystem's clock: %q; want its error", log.String())
	}
}

// TestStartSweepsStaleTempsOnAFullDisk: a start whose probe of the
// filesystem's clock failed for want of space removed no stale temporary
// file, while they may be what fills the disk. It now counts them stale at
// twice their age on its own clock: one two days old goes, one 90 minutes
// old stays, and the fallback is logged.
func TestStartSweepsStaleTempsOnAFullDisk(t *testing.T) {
	for _, full := range []error{syscall.ENOSPC, syscall.EDQUOT} {
		t.Run(full.Error(), func(t *testing.T) {
			t.Cleanup(local.SetStartFileClockFailing(&os.PathError{Op: "open", Path: "probe", Err: full}))
			state := t.TempDir()
			job := filepath.Join(state, "jobs", "r-1")
			gone := []string{backendtest.WriteTemp(t, filepath.Join(job, ".job.json.tmp-1"), time.Now().Add(-48*time.Hour))}
			kept := []string{backendtest.WriteTemp(t, filepath.Join(job, ".job.json.tmp-2"), time.Now().Add(-90*time.Minute))}
			_, log := newLogged(t, state)
			checkGone(t, gone, kept)
			if !strings.Contains(log.String(), "for want of space") {
				t.Fatalf("log of a start on a full disk: %q; want the fallback told", log.String())
			}
		})
	}
}

// errFull is the probe file failing to be made for want of space.
func errFull(errno syscall.Errno) error {
	return &os.PathError{Op: "open", Path: "unreadable/.clock.tmp-1", Err: errno}
}

// TestFilesystemClockReadOnAFullDisk: the state directory's filesystem
// clock was read only off a file made there, and on a full disk (or
// quota) it could not be read at all. It is now read then off the
// change time of the directory the probe is made in, its times set to
// now, which takes no space, and nothing is left there.
func TestFilesystemClockReadOnAFullDisk(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT} {
		t.Run(errno.Error(), func(t *testing.T) {
			state := t.TempDir()
			b := newLocal(t, state)
			t.Cleanup(local.SetClockProbeFailing(errFull(errno)))
			before := time.Now().Add(-time.Minute)
			now, err := local.FileNow(b)
			if err != nil {
				t.Fatalf("the filesystem's clock on a full disk: %v", err)
			}
			if now.Before(before) || now.After(time.Now().Add(time.Minute)) {
				t.Fatalf("the filesystem's clock on a full disk reads %v; want the machine's (%v)", now, time.Now())
			}
			if kept := unreadableEntries(t, state); len(kept) != 0 {
				t.Fatalf("after reading the clock the state directory keeps %v; want nothing", kept)
			}
		})
	}
}

// TestReadableRecordCountedOnTheFilesystemClockOnAFullDisk: a job whose
// lock could not be read was counted on the server's own clock while the
// filesystem's could not be read: on a full disk, a server whose clock
// said the launch was a moment ago read as starting a job launched an
// hour before on the filesystem's clock, the one every server reads
// alike. It is now counted on that clock, read without a file.
func TestReadableRecordCountedOnTheFilesystemClockOnAFullDisk(t *testing.T) {
	b := newLocal(t, t.TempDir())
	now := time.Now()
	local.SetClock(b, func() time.Time { return now })
	h := endedJob(t, b, backend.Spec{RunID: "fullrecord", Attempt: 1, Command: []string{"true"}})
	dir := pidlessJob(t, b, h, 0)
	setLaunch(t, filepath.Join(dir, "job.json"), now, now.Add(-time.Hour))
	keptUnreadable(t, filepath.Join(dir, "lock"))
	t.Cleanup(local.SetClockProbeFailing(errFull(syscall.ENOSPC)))
	if st := statusOf(t, b, h); st.State != backend.Lost {
		t.Fatalf("launched an hour ago on the filesystem's clock, a moment ago on the server's, the disk full: %+v, want lost", st)
	}
}

// TestUnreadableJobAnsweredOnAFullDisk: a job whose lock and record are
// both kept unreadable made every Status fail while the filesystem's
// clock could not be read (its first look is kept on that clock), for as
// long as the disk stayed full. Its first look kept, it is now counted
// on that clock read without a file: starting, and lost once the first
// look is past the bound.
func TestUnreadableJobAnsweredOnAFullDisk(t *testing.T) {
	state := t.TempDir()
	b := newLocal(t, state)
	h := endedJob(t, b, backend.Spec{RunID: "fullunread", Attempt: 1, Command: []string{"true"}})
	dir := pidlessJob(t, b, h, 0)
	keptUnreadable(t, filepath.Join(dir, "lock"), filepath.Join(dir, "job.json"))
	if st := statusOf(t, b, h); st.State != backend.Pending {
		t.Fatalf("at first: %+v, want starting", st)
	}
	t.Cleanup(local.SetClockProbeFailing(errFull(syscall.ENOSPC)))
	if st := statusOf(t, b, h); st.State != backend.Pending {
		t.Fatalf("the disk full: %+v, want starting", st)
	}
	// The first look an hour back, as if it had been kept then.
	entry := filepath.Join(state, "unreadable", h)
	data, err := os.ReadFile(entry)
	if err != nil {
		t.Fatal(err)
	}
	var seen map[string]any
	if err := json.Unmarshal(data, &seen); err != nil {
		t.Fatal(err)
	}
	seen["at"] = time.Now().Add(-time.Hour).UTC().Format(time.RFC3339Nano)
	if data, err = json.Marshal(seen); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(entry, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if st := statusOf(t, b, h); st.State != backend.Lost {
		t.Fatalf("the disk full, first found unreadable an hour ago: %+v, want lost", st)
	}
}
