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
	"meridian.dev/meridian/backend/backendtest"
	"meridian.dev/meridian/internal/captest"
)

// TestCancelStopsAJobWhoseFilesAnotherJobMadeUnreadable: a landlock
// workload runs as the server's user, and Landlock does not cover a file's
// metadata: it may chmod any job's files though it can neither read nor
// write them. Another job's pid file made mode 0 left Cancel unable to
// read the pid it signals: the job ran on, Cancel waiting for it until its
// caller's time ran out; its run.lock made mode 0 made Cancel fail at once.
// Cancel now finds the job's wrapper by what the kernel says of it.
func TestCancelStopsAJobWhoseFilesAnotherJobMadeUnreadable(t *testing.T) {
	for _, files := range [][]string{{"pid"}, {"pid", "run.lock"}} {
		t.Run(strings.Join(files, "+"), func(t *testing.T) {
			b := newLocal(t, t.TempDir())
			b.CancelGrace = time.Second
			b.TreeWait = time.Second
			ctx := context.Background()
			h, err := b.Submit(ctx, backend.Spec{RunID: "victim", Attempt: 1, Command: []string{"sleep", "60"}})
			if err != nil {
				t.Fatal(err)
			}
			wrapper := readPid(t, b, h)
			t.Cleanup(func() { syscall.Kill(-wrapper, syscall.SIGKILL) })
			dir := filepath.Join(b.StateDir(), "jobs", h)

			// The other job's workload makes the files unreadable.
			script := "chmod 0"
			for _, f := range files {
				script += " '" + filepath.Join(dir, f) + "'"
			}
			other, err := b.Submit(ctx, backend.Spec{RunID: "chmodder", Attempt: 1,
				Command: []string{"/bin/sh", "-c", script + " && exec sleep 60"}})
			if err != nil {
				t.Fatal(err)
			}
			otherPid := readPid(t, b, other)
			t.Cleanup(func() { syscall.Kill(-otherPid, syscall.SIGKILL) })
			for _, f := range files {
				for deadline := time.Now().Add(backendtest.Timeout); ; time.Sleep(10 * time.Millisecond) {
					if fi, err := os.Stat(filepath.Join(dir, f)); err == nil && fi.Mode().Perm() == 0 {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("the other job did not chmod %s", f)
					}
				}
			}

			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			start := time.Now()
			err = asTheServersUser(t, func() error { return b.Cancel(cctx, h) })
			if err != nil {
				t.Fatalf("Cancel of a job whose %s another job made mode 0: %v after %s", strings.Join(files, " and "), err, time.Since(start).Round(time.Millisecond))
			}
			if running(wrapper) {
				t.Fatalf("Cancel returned, and the job's wrapper (pid %d) still runs", wrapper)
			}
			if st := backendtest.WaitFinal(t, b, h); st.State != backend.Cancelled {
				t.Errorf("the job is %+v, want cancelled", st)
			}
		})
	}
}

// asTheServersUser is captest.AsTheServersUser.
var asTheServersUser = captest.AsTheServersUser

// TestCleanKeepsADirectoryInUseUnderAnUnreadablePid: once a job's wrapper
// has ended, its pid file alone named the session whose processes Clean
// waits for, as it still does for a job launched without a launch record
// (by an older server; the record is removed here). Another job's workload that made it mode 0 left Clean
// nothing to wait for: it removed the working directory while a process
// the job started still ran there. The server now sets the file's mode
// back and waits as before.
func TestCleanKeepsADirectoryInUseUnderAnUnreadablePid(t *testing.T) {
	ctx := context.Background()
	b := newLocal(t, t.TempDir())
	b.CancelGrace = 300 * time.Millisecond
	b.TreeWait = 300 * time.Millisecond
	release := filepath.Join(t.TempDir(), "release")
	h, wd, pid := lingeringJob(t, b, "in-use", release)
	if err := b.Cancel(ctx, h); err != nil {
		t.Fatal(err)
	}
	dropLaunchRecord(t, b, h)
	pidPath := filepath.Join(b.StateDir(), "jobs", h, "pid")
	if err := os.Chmod(pidPath, 0); err != nil {
		t.Fatal(err)
	}
	err := asTheServersUser(t, func() error { return b.Clean(ctx, h) })
	if _, serr := os.Stat(wd); serr != nil {
		t.Fatalf("Clean removed the working directory under pid %d, which still runs (Clean said %v)", pid, err)
	}
	if err == nil || !strings.Contains(err.Error(), "kept") {
		t.Errorf("Clean while pid %d of the job runs: %v; want an error saying the directory is kept", pid, err)
	}
	if !running(pid) {
		t.Fatal("the lingering process ended: the test stands for nothing")
	}
	if fi, err := os.Stat(pidPath); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("the pid file after Clean: %v, %v; want its mode set back to 0644", fi.Mode(), err)
	}
}

// TestCleanKeepsTheDirectoryWhenThePidCannotBeRead: a pid file whose mode
// cannot be set back, of a job without a launch record, (here one with a second link, not a record the
// server wrote alone) keeps the working directory, and Clean says why.
func TestCleanKeepsTheDirectoryWhenThePidCannotBeRead(t *testing.T) {
	ctx := context.Background()
	b := newLocal(t, t.TempDir())
	b.CancelGrace = 300 * time.Millisecond
	b.TreeWait = 300 * time.Millisecond
	release := filepath.Join(t.TempDir(), "release")
	h, wd, pid := lingeringJob(t, b, "in-use", release)
	if err := b.Cancel(ctx, h); err != nil {
		t.Fatal(err)
	}
	dropLaunchRecord(t, b, h)
	pidPath := filepath.Join(b.StateDir(), "jobs", h, "pid")
	if err := os.Link(pidPath, filepath.Join(b.StateDir(), "pid-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(pidPath, 0); err != nil {
		t.Fatal(err)
	}
	err := asTheServersUser(t, func() error { return b.Clean(ctx, h) })
	if _, serr := os.Stat(wd); serr != nil {
		t.Fatalf("Clean removed the working directory under pid %d, which still runs (Clean said %v)", pid, err)
	}
	if err == nil || !strings.Contains(err.Error(), "pid") || !strings.Contains(err.Error(), "kept") {

		t.Errorf("Clean with an unreadable pid file: %v; want an error naming it and saying the directory is kept", err)
	}
	if fi, err := os.Stat(pidPath); err != nil || fi.Mode().Perm() != 0 {
		t.Errorf("the pid file with a second link after Clean: %v, %v; want its mode left as it was", fi.Mode(), err)
	}
}
