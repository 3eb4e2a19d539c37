package local_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/local"
)

// pidlessJob makes the ended job h one whose wrapper ended recording neither its pid nor an
// exit code, its record's launch set back by age (on the server's clock and the filesystem's).
func pidlessJob(t *testing.T, b *local.Local, h string, age time.Duration) string {
	t.Helper()
	dir := filepath.Join(b.StateDir(), "jobs", h)
	for _, f := range []string{"pid", "exitcode"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "job.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatal(err)
	}
	rec["submitted"] = time.Now().Add(-age).UTC().Format(time.RFC3339Nano)
	// The launch on the state directory's filesystem clock, which Status
	// bounds a starting job by, set back as much (where the record keeps
	// it: a Submit that could not read that clock keeps none).
	if kept, ok := rec["submittedOnFiles"].(string); ok {
		onFiles, err := time.Parse(time.RFC3339Nano, kept)
		if err != nil {
			t.Fatal(err)
		}
		rec["submittedOnFiles"] = onFiles.Add(-age).Format(time.RFC3339Nano)
	}
	if data, err = json.Marshal(rec); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestStatusAnswersWhateverAWorkloadPutsForTheJobsLock: Status probes the
// job's lock file to tell a job a Submit is launching from one lost
// without a pid. A FIFO, a link, a hard link or a file made mode 0 there
// (a workload of the server's user may chmod any job's files) made every
// Status of the job fail. Status now reads the lock file as the server's
// own (its mode set back), and where it cannot, answers starting while a
// Submit may be launching the job (its record's launch is recent) and
// lost after: never a failure on a workload's word.
func TestStatusAnswersWhateverAWorkloadPutsForTheJobsLock(t *testing.T) {
	for _, kind := range []string{"mode 0", "mode 0 held", "fifo", "link", "hard link", "fifo recent"} {
		t.Run(kind, func(t *testing.T) {
			b := newLocal(t, t.TempDir())
			ctx := context.Background()
			h := endedJob(t, b, backend.Spec{RunID: "joblock", Attempt: 1, Command: []string{"true"}})
			age := time.Hour
			if kind == "fifo recent" {
				age = 0
			}
			dir := pidlessJob(t, b, h, age)
			lock := filepath.Join(dir, "lock")
			want := backend.Lost
			switch kind {
			case "mode 0 held":
				// A Submit holds it, then a workload makes it mode 0.
				f, err := os.OpenFile(lock, os.O_RDWR, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
					t.Fatal(err)
				}
				replaceRecord(t, lock, "mode 0", nil, 0)
				want = backend.Pending
			case "hard link":
				other := filepath.Join(dir, "other")
				if err := os.WriteFile(other, nil, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Remove(lock); err != nil {
					t.Fatal(err)
				}
				if err := os.Link(other, lock); err != nil {
					t.Fatal(err)
				}
			case "fifo recent":
				replaceRecord(t, lock, "fifo", nil, 0)
				want = backend.Pending
			default:
				replaceRecord(t, lock, kind, nil, 0)
			}
			var st backend.Status
			err := inTime(t, "Status", func() (err error) {
				st, err = b.Status(ctx, h)
				return err
			})
			if err != nil || st.State != want {
				t.Fatalf("Status with %s for the job's lock: %+v, %v; want %s", kind, st, err, want)
			}
		})
	}
}

// keptUnreadable has a workload make each of paths mode 0 now and again
// every time the server sets its mode back, until the test ends.
func keptUnreadable(t *testing.T, paths ...string) {
	t.Helper()
	kept := map[string]bool{}
	for _, p := range paths {
		kept[p] = true
		if err := os.Chmod(p, 0); err != nil {
			t.Fatal(err)
		}
	}
	undo := local.SetTestHookRestored(func(p string) {
		if kept[p] {
			if err := os.Chmod(p, 0); err != nil {
				t.Error(err)
			}
		}
	})
	t.Cleanup(undo)
}

// TestJobKeptUnreadableReadsLostPastTheBound: a job without a pid whose
// lock and record (job.json) a workload keeps unreadable (another job's,
// making them mode 0 again each time the server sets them back) read as
// starting for as long as it kept that up: the run never ended and held
// its accelerators. It now reads as starting for 10 s from when the
// server first found both unreadable, counted on the state directory's
// filesystem clock, and
// as lost after, the reason naming both files; a record a Submit writes
// anew (another file) starts the count again.
func TestJobKeptUnreadableReadsLostPastTheBound(t *testing.T) {
	b := newLocal(t, t.TempDir())
	now := time.Now()
	local.SetFileClock(b, func() time.Time { return now })
	ctx := context.Background()
	h := endedJob(t, b, backend.Spec{RunID: "keptunreadable", Attempt: 1, Command: []string{"true"}})
	dir := pidlessJob(t, b, h, 0)
	lock, rec := filepath.Join(dir, "lock"), filepath.Join(dir, "job.json")
	keptUnreadable(t, lock, rec)
	status := func() backend.Status {
		t.Helper()
		var st backend.Status
		err := inTime(t, "Status", func() (err error) {
			st, err = b.Status(ctx, h)
			return err
		})
		if err != nil {
			t.Fatalf("Status of a job whose lock and record are kept unreadable: %v", err)
		}
		return st
	}
	if st := status(); st.State != backend.Pending {
		t.Fatalf("at first: %+v, want starting", st)
	}
	now = now.Add(9 * time.Second)
	if st := status(); st.State != backend.Pending {
		t.Fatalf("9 s on: %+v, want starting", st)
	}
	now = now.Add(2 * time.Second)
	st := status()
	// Named within the job's directory: the state directory's path is
	// the server's, and the run's tenant reads the reason.
	if st.State != backend.Lost || !strings.Contains(st.Reason, "lock") || !strings.Contains(st.Reason, "job.json") || strings.Contains(st.Reason, b.StateDir()) {
		t.Fatalf("11 s on: %+v, want lost, the reason naming lock and job.json, not the state directory %s", st, b.StateDir())
	}
	if st := status(); st.State != backend.Lost {
		t.Fatalf("asked again: %+v, want lost still", st)
	}

	// A record written anew (as a Submit writes it) is another launch.
	if err := os.Rename(rec, rec+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rec, []byte(`{"runID":"keptunreadable","attempt":1}`), 0); err != nil {
		t.Fatal(err)
	}
	if st := status(); st.State != backend.Pending {
		t.Fatalf("with a new record: %+v, want starting", st)
	}
}

// TestJobKeptUnreadableCountsOnAcrossRestarts: the 10 s a job whose lock
// and record a workload keeps unreadable reads as starting were counted
// from when this server first found both unreadable, held in its memory
// only: a server started again counted from its own first look, and one
// restarted more often than every 10 s kept such a job starting for ever.
// The time is now kept in the server's state directory: a new backend on
// the same state counts on from it. The time kept is none the workload
// can change: made mode 0 too, it is set back and read.
func TestJobKeptUnreadableCountsOnAcrossRestarts(t *testing.T) {
	state := t.TempDir()
	b := newLocal(t, state)
	start := time.Now()
	now := start
	local.SetFileClock(b, func() time.Time { return now })
	ctx := context.Background()
	h := endedJob(t, b, backend.Spec{RunID: "restartedunreadable", Attempt: 1, Command: []string{"true"}})
	dir := pidlessJob(t, b, h, 0)
	lock, rec := filepath.Join(dir, "lock"), filepath.Join(dir, "job.json")
	keptUnreadable(t, lock, rec)
	status := func(b *local.Local) backend.Status {
		t.Helper()
		var st backend.Status
		err := inTime(t, "Status", func() (err error) {
			st, err = b.Status(ctx, h)
			return err
		})
		if err != nil {
			t.Fatalf("Status of a job whose lock and record are kept unreadable: %v", err)
		}
		return st
	}
	if st := status(b); st.State != backend.Pending {
		t.Fatalf("at first: %+v, want starting", st)
	}
	// Servers started again every 6 s, each counting on the same clock.
	for i, want := range []backend.State{backend.Pending, backend.Lost, backend.Lost} {
		now = now.Add(6 * time.Second)
		again := newLocal(t, state)
		local.SetFileClock(again, func() time.Time { return now })
		if i == 2 {
			// What the server keeps made mode 0 as well.
			kept, err := filepath.Glob(filepath.Join(state, "unreadable", "*"))
			if err != nil || len(kept) != 1 {
				t.Fatalf("the server keeps %v (%v); want one file for the job", kept, err)
			}
			if err := os.Chmod(kept[0], 0); err != nil {
				t.Fatal(err)
			}
		}
		if st := status(again); st.State != want {
			t.Fatalf("a server started again %s after the first look: %+v, want %s", now.Sub(start), st, want)
		}
	}
}

// TestUnreadableEntryDroppedOnceTheLockReads: what the server keeps of a
// job whose lock and record it found both unreadable (one entry a job,
// which the server's memory held until it ended) is dropped once the
// job's lock reads again: the count starts again only where both are
// unreadable again.
func TestUnreadableEntryDroppedOnceTheLockReads(t *testing.T) {
	state := t.TempDir()
	b := newLocal(t, state)
	ctx := context.Background()
	h := endedJob(t, b, backend.Spec{RunID: "forgotten", Attempt: 1, Command: []string{"true"}})
	dir := pidlessJob(t, b, h, 0)
	lock, rec := filepath.Join(dir, "lock"), filepath.Join(dir, "job.json")
	keep := true
	for _, p := range []string{lock, rec} {
		if err := os.Chmod(p, 0); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(local.SetTestHookRestored(func(p string) {
		if keep && (p == lock || p == rec) {
			if err := os.Chmod(p, 0); err != nil {
				t.Error(err)
			}
		}
	}))
	kept := func() []string {
		t.Helper()
		files, err := filepath.Glob(filepath.Join(state, "unreadable", "*"))
		if err != nil {
			t.Fatal(err)
		}
		return files
	}
	for _, unreadable := range []bool{true, false} {
		keep = unreadable
		var st backend.Status
		err := inTime(t, "Status", func() (err error) {
			st, err = b.Status(ctx, h)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]int{true: 1, false: 0}[unreadable]; len(kept()) != want {
			t.Fatalf("lock and record unreadable %v (the job %+v): the server keeps %v; want %d entries", unreadable, st, kept(), want)
		}
	}
}
