package local_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/local"
)

// TestStatusTimes: the local backend says when a job started and ended,
// from when its wrapper wrote its pid and its exit code, so that a job
// that ran between two of the controller's looks is counted for what it
// ran. A running job has no end yet.
func TestStatusTimes(t *testing.T) {
	ctx := context.Background()
	b := newLocal(t, t.TempDir())
	before := time.Now()
	h, err := b.Submit(ctx, backend.Spec{RunID: "timed", Attempt: 1,
		Command: []string{"/bin/sh", "-c", `while [ ! -e release ]; do sleep 0.01; done; sleep 0.2; exit 3`}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Cancel(ctx, h) })
	var st backend.Status
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if st, err = b.Status(ctx, h); err != nil {
			t.Fatal(err)
		}
		// Running from when the wrapper holds its lock, started once it
		// has written its pid.
		if st.State == backend.Running && !st.Started.IsZero() {
			break
		}
	}
	if st.State != backend.Running || st.Started.IsZero() || !st.Ended.IsZero() {
		t.Fatalf("running job: %+v, want running with a start and no end", st)
	}
	started := st.Started
	// File times may be coarser than the clock: allow them a tick.
	if started.Before(before.Add(-10*time.Millisecond)) || started.After(time.Now()) {
		t.Fatalf("started %v, outside [%v, now]", started, before)
	}
	if err := touch(b.WorkDir(backend.Spec{RunID: "timed", Attempt: 1}) + "/release"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !st.State.Final(); time.Sleep(10 * time.Millisecond) {
		if st, err = b.Status(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	after := time.Now()
	if st.State != backend.Failed || st.ExitCode != 3 {
		t.Fatalf("ended job: %+v, want failed with exit code 3", st)
	}
	if !st.Started.Equal(started) || st.Ended.Sub(st.Started) < 200*time.Millisecond || st.Ended.After(after) {
		t.Fatalf("ended job ran %v to %v: want the same start, an end at least 200ms after it and before %v", st.Started, st.Ended, after)
	}
}

func touch(path string) error { return os.WriteFile(path, nil, 0o644) }

// changedAt is the change time of the file at path.
func changedAt(t *testing.T, path string) time.Time {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		t.Fatalf("%s: no change time", path)
	}
	return time.Unix(st.Ctim.Unix()).UTC()
}

// TestStatusTimesThroughADirectoryRace: a workload of the server's user
// that made the job's directory mode 0 just after Status had read the
// job's state (here as the server sets the job's exitcode back) had its
// start and end read as zero, which the run controller takes as the site
// saying nothing: a job that ended between two of its looks counted no
// time at all. Status now looks at them again, the directory's mode set
// back first, as it does at the job's state; a workload winning each
// time makes Status fail, naming the file, never answer without them.
func TestStatusTimesThroughADirectoryRace(t *testing.T) {
	ctx := context.Background()
	for _, every := range []bool{false, true} {
		t.Run(map[bool]string{false: "once", true: "every time"}[every], func(t *testing.T) {
			b := newLocal(t, t.TempDir())
			h := endedJob(t, b, backend.Spec{RunID: "timerace", Attempt: 1, Command: []string{"true"}})
			dir := filepath.Join(b.StateDir(), "jobs", h)
			pid, exitcode := filepath.Join(dir, "pid"), filepath.Join(dir, "exitcode")
			want := map[string]time.Time{}
			for _, p := range []string{pid, exitcode} {
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				want[p] = fi.ModTime().UTC()
			}
			if err := os.Chmod(exitcode, 0); err != nil {
				t.Fatal(err)
			}
			raced := false
			t.Cleanup(local.SetTestHookRestored(func(p string) {
				if (p == exitcode && !raced) || (p == dir && raced && every) {
					raced = true
					if err := os.Chmod(dir, 0); err != nil {
						t.Error(err)
					}
				}
			}))
			t.Cleanup(func() { os.Chmod(dir, 0o700) })
			var st backend.Status
			err := asTheServersUser(t, func() (err error) {
				st, err = b.Status(ctx, h)
				return err
			})
			if !raced {
				t.Fatal("the directory was never made mode 0: the test stands for nothing")
			}
			if every {
				if err == nil || !strings.Contains(err.Error(), dir) {
					t.Fatalf("Status of an ended job whose directory is made mode 0 again each time: %+v, %v; want an error naming a file of %s", st, err, dir)
				}
				return
			}
			// The end is the one the wrapper kept, which the server's
			// setting the file's mode back (its change time moved on)
			// does not move: no earlier than the file was written, and
			// no later than what its change time says now.
			changed := changedAt(t, exitcode)
			if err != nil || st.State != backend.Succeeded || !st.Started.Equal(want[pid]) || st.Ended.Before(want[exitcode]) || st.Ended.After(changed) {
				t.Fatalf("Status of an ended job whose directory was made mode 0 amid its reads: %+v, %v; want succeeded, started %v, ended %v (written %v)",
					st, err, want[pid], changed, want[exitcode])
			}
		})
	}
}
