package slurm_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
)

// TestForgottenJobMarksBoundedByTheServersStamps: a workload runs as the
// cluster user and set its job's marks to any time from 1971 on: a start
// set back before the server had even submitted the job, or an end set
// past when the server found the job forgotten, was given as the job's,
// stretching the attempt's time on the site (or, one set to the other's,
// making it count none). A start before the server wrote the batch
// script, or an end after the server first saw the job forgotten, now
// reads as not known.
func TestForgottenJobMarksBoundedByTheServersStamps(t *testing.T) {
	for _, c := range []struct {
		name         string
		start, end   time.Duration // after the batch script's change time
		wantS, wantE bool          // known
	}{
		{"marks of the job", 0, 0, true, true},
		{"start before the submit", -time.Hour, 0, false, false},
		{"start a year before", -365 * 24 * time.Hour, 0, false, false},
		{"end after the job was seen forgotten", 0, time.Hour, true, false},
		{"start after the job was seen forgotten", time.Hour, time.Hour, false, false},
		{"batch script removed", -time.Hour, 0, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			state := t.TempDir()
			squeue := "#!/bin/sh\necho 'slurm_load_jobs error: Invalid job id specified' >&2\nexit 1\n"
			b := fakeSlurm(t, state, map[string]string{"squeue": squeue, "sbatch": "#!/bin/sh\necho 777\n"})
			ctx := context.Background()
			h, err := b.Submit(ctx, backend.Spec{RunID: "r1", Attempt: 1, Command: []string{"true"}})
			if err != nil {
				t.Fatal(err)
			}
			job := filepath.Join(state, "jobs", "r1-1")
			submitted := changeTime(t, filepath.Join(job, "job.sh"))
			if c.name == "batch script removed" {
				// With it the lower bound, were a missing one none.
				if err := os.Remove(filepath.Join(job, "job.sh")); err != nil {
					t.Fatal(err)
				}
			}
			for name, at := range map[string]time.Time{"started": submitted.Add(c.start), "exitcode": submitted.Add(c.end)} {
				p := filepath.Join(job, name)
				if err := os.WriteFile(p, []byte("0\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chtimes(p, at, at); err != nil {
					t.Fatal(err)
				}
			}
			st, err := b.Status(ctx, h)
			if err != nil || st.State != backend.Succeeded {
				t.Fatalf("Status = %+v, %v; want succeeded", st, err)
			}
			if !st.Started.IsZero() != c.wantS || !st.Ended.IsZero() != c.wantE {
				t.Errorf("marks %v and %v after the submit: times %v to %v; want start known %v, end known %v", c.start, c.end, st.Started, st.Ended, c.wantS, c.wantE)
			}
		})
	}
}

// changeTime is the change time of path.
func changeTime(t *testing.T, path string) time.Time {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return time.Unix(st.Ctim.Unix()).UTC()
}
