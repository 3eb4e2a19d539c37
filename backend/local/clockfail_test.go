package local_test

import (
	"bytes"
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
