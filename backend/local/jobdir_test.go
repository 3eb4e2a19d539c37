package local_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/backendtest"
)

// TestJobDirModeAWorkloadChanged: a landlock workload runs as the
// server's user and may chmod any directory it can name. A job's
// directory (or the jobs directory) made mode 0 had Status answer that
// the job was not there and Clean keep its working directory saying
// nothing; made 0100, it kept Cancel from marking the job cancelled. The
// server now sets their mode back to 0700 through a descriptor opened
// from the parent, and each answers as before.
func TestJobDirModeAWorkloadChanged(t *testing.T) {
	for _, c := range []struct {
		name string
		jobs bool // the jobs directory, not the job's
		mode os.FileMode
	}{{"job 0", false, 0}, {"job 0100", false, 0o100}, {"job 0755", false, 0o755}, {"jobs 0", true, 0}} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			b := newLocal(t, t.TempDir())
			b.CancelGrace = time.Second
			b.TreeWait = time.Second
			chmod := func(h string) {
				t.Helper()
				path := filepath.Join(b.StateDir(), "jobs", h)
				if c.jobs {
					path = filepath.Dir(path)
				}
				if err := os.Chmod(path, c.mode); err != nil {
					t.Fatal(err)
				}
			}

			// Status and Clean of an ended job.
			spec := backend.Spec{RunID: "ended", Attempt: 1, Command: []string{"true"}}
			wd := b.WorkDir(spec)
			h := endedJob(t, b, spec)
			chmod(h)
			var st backend.Status
			if err := inTime(t, "Status", func() (err error) {
				st, err = b.Status(ctx, h)
				return err
			}); err != nil || st.State != backend.Succeeded {
				t.Fatalf("Status with the directory made %#o: %+v, %v; want succeeded", c.mode, st, err)
			}
			chmod(h)
			if err := inTime(t, "Clean", func() error { return b.Clean(ctx, h) }); err != nil {
				t.Fatalf("Clean with the directory made %#o: %v", c.mode, err)
			}
			if _, err := os.Lstat(wd); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("Clean with the directory made %#o kept the working directory: %v", c.mode, err)
			}
			if fi, err := os.Stat(filepath.Join(b.StateDir(), "jobs", h)); err != nil || fi.Mode().Perm() != 0o700 {
				t.Errorf("the job's directory after Clean: %v, %v; want mode 0700", fi.Mode(), err)
			}

			// Cancel of a running one.
			h, err := b.Submit(ctx, backend.Spec{RunID: "running", Attempt: 1, Command: []string{"sleep", "60"}})
			if err != nil {
				t.Fatal(err)
			}
			wrapper := readPid(t, b, h)
			t.Cleanup(func() { syscall.Kill(-wrapper, syscall.SIGKILL) })
			chmod(h)
			if err := inTime(t, "Cancel", func() error { return b.Cancel(ctx, h) }); err != nil {
				t.Fatalf("Cancel with the directory made %#o: %v", c.mode, err)
			}
			if st := backendtest.WaitFinal(t, b, h); st.State != backend.Cancelled {
				t.Fatalf("status after Cancel with the directory made %#o: %+v, want cancelled", c.mode, st)
			}
		})
	}
}

// TestJobDirReplacedByALink: a job's directory replaced by a link to
// another job's had Status report the other job's state as this one's,
// and Clean read the other job's record and remove its working directory.
// The directory is now opened without following a link: Status, Cancel
// and Clean fail naming it, and nothing of the other job is touched.
func TestJobDirReplacedByALink(t *testing.T) {
	ctx := context.Background()
	b := newLocal(t, t.TempDir())
	spec := backend.Spec{RunID: "other", Attempt: 1, Command: []string{"true"}}
	otherWd := b.WorkDir(spec)
	other := endedJob(t, b, spec)
	h := endedJob(t, b, backend.Spec{RunID: "linked", Attempt: 1, Command: []string{"true"}})
	dir := filepath.Join(b.StateDir(), "jobs", h)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(b.StateDir(), "jobs", other), dir); err != nil {
		t.Fatal(err)
	}
	if st, err := b.Status(ctx, h); err == nil {
		t.Errorf("Status through a link for the job's directory: %+v, want an error", st)
	}
	if err := b.Cancel(ctx, h); err == nil {
		t.Errorf("Cancel through a link for the job's directory: no error")
	}
	if err := b.Clean(ctx, h); err == nil {
		t.Errorf("Clean through a link for the job's directory: no error")
	}
	if _, err := os.Stat(otherWd); err != nil {
		t.Errorf("the other job's working directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(b.StateDir(), "jobs", other, "cancelled")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the other job was marked cancelled: %v", err)
	}
}
