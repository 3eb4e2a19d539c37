package slurm

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
)

// TestForgottenJobTimesNotKnownFromBadMarks: once slurmctld has forgotten
// a job, its start and end are the times of the start mark and the exit
// code its batch script wrote, in a directory a workload, as the cluster
// user, writes. Set to 1970 or before (touch -d @0), a mark's time was
// given as the job's start or end, and an end before the start was taken
// too; each is now not known (zero, as backend.Status gives it), as is a
// mark replaced by a link (to a file of good time, inside). A mark made
// unreadable still tells its time, which its owner wrote and which needs
// no read of it.
func TestForgottenJobTimesNotKnownFromBadMarks(t *testing.T) {
	const key = "r1-1"
	// Moved, in each case, to the change time of the batch script the
	// case writes: the marks are known only from it to the server's
	// first look at the forgotten job, a moment later
	// (TestForgottenJobMarksBoundedByTheServersStamps).
	ran := time.Date(2026, 12, 4, 10, 0, 2, 0, time.UTC)
	done := ran
	for _, c := range []struct {
		name           string
		started, ended time.Time
		setup          func(t *testing.T, job string)
		wantS, wantE   time.Time
	}{
		{"marks of the job", ran, done, nil, ran, done},
		{"start of 1970", time.Unix(0, 0), done, nil, time.Time{}, time.Time{}},
		{"start before 1970", time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC), done, nil, time.Time{}, time.Time{}},
		{"end of 1970", ran, time.Unix(0, 0), nil, ran, time.Time{}},
		{"end before the start", ran, ran.Add(-time.Hour), nil, ran, time.Time{}},
		{"start mark a link", ran, done, func(t *testing.T, job string) {
			link(t, job, "started", "output.log")
		}, time.Time{}, time.Time{}},
		{"exit code a link, the job cancelled", ran, done, func(t *testing.T, job string) {
			// Cancelled: the state needs no exit code.
			link(t, job, "exitcode", "output.log")
		}, ran, time.Time{}},
		{"start mark unreadable", ran, done, func(t *testing.T, job string) {
			if err := os.Chmod(filepath.Join(job, "started"), 0); err != nil {
				t.Fatal(err)
			}
		}, ran, done},
	} {
		t.Run(c.name, func(t *testing.T) {
			state := filepath.Join(t.TempDir(), "state")
			rec, err := newRecords(state)
			if err != nil {
				t.Fatal(err)
			}
			job := filepath.Join(state, "jobs", key)
			if err := os.MkdirAll(job, 0o700); err != nil {
				t.Fatal(err)
			}
			script := filepath.Join(job, "job.sh")
			if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o700); err != nil {
				t.Fatal(err)
			}
			var sst syscall.Stat_t
			if err := syscall.Lstat(script, &sst); err != nil {
				t.Fatal(err)
			}
			shift := time.Unix(sst.Ctim.Unix()).Sub(ran)
			moved := func(at time.Time) time.Time {
				if at.Year() < 2000 {
					return at
				}
				return at.Add(shift)
			}
			c.started, c.ended = moved(c.started), moved(c.ended)
			if !c.wantS.IsZero() {
				c.wantS = moved(c.wantS)
			}
			if !c.wantE.IsZero() {
				c.wantE = moved(c.wantE)
			}
			for name, at := range map[string]time.Time{"started": c.started, "exitcode": c.ended, "output.log": moved(ran)} {
				p := filepath.Join(job, name)
				if err := os.WriteFile(p, []byte("0\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chtimes(p, at, at); err != nil {
					t.Fatal(err)
				}
			}
			want := backend.Succeeded
			if strings.Contains(c.name, "cancelled") {
				if rec.seal, err = newSealer(options{}, state); err != nil {
					t.Fatal(err)
				}
				if err := rec.markCancelled(key); err != nil {
					t.Fatal(err)
				}
				want = backend.Cancelled
			}
			if c.setup != nil {
				c.setup(t, job)
			}
			st, err := rec.forgottenStatus("777", handleRef{id: "777", key: key})
			if err != nil {
				t.Fatal(err)
			}
			if !st.Started.Equal(c.wantS) || !st.Ended.Equal(c.wantE) {
				t.Errorf("forgotten job's times %v to %v (%+v); want %v to %v", st.Started, st.Ended, st, c.wantS, c.wantE)
			}
			if st.State != want {
				t.Errorf("state %s, want %s", st.State, want)
			}
		})
	}
}

// link replaces name in dir by a link to target, beside it.
func link(t *testing.T, dir, name, target string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}
