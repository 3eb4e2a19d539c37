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
	"meridian.dev/meridian/backend/local"
)

// replaceRecord puts what kind names in the place of the job's record at
// path: the file made mode 0, a directory, a FIFO, a link to a file
// holding content, or a file of size bytes.
func replaceRecord(t *testing.T, path, kind string, content []byte, size int) {
	t.Helper()
	if kind == "mode 0" {
		if err := os.Chmod(path, 0); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	var err error
	switch kind {
	case "directory":
		err = os.Mkdir(path, 0o700)
	case "fifo":
		err = syscall.Mkfifo(path, 0o600)
	case "link":
		target := filepath.Join(t.TempDir(), "target")
		if err := os.WriteFile(target, content, 0o600); err != nil {
			t.Fatal(err)
		}
		err = os.Symlink(target, path)
	case "huge":
		data := append(append([]byte{}, content...), []byte(strings.Repeat(" ", size))...)
		err = os.WriteFile(path, data, 0o600)
	default:
		t.Fatalf("no such kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// waitEnded waits for the job's wrapper to end (it holds the run lock
// for a moment after it wrote the exit code).
func waitEnded(t *testing.T, b *local.Local, h string) {
	t.Helper()
	pid := readPid(t, b, h)
	for deadline := time.Now().Add(backendtest.Timeout); running(pid); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the job's wrapper (pid %d) still runs", pid)
		}
	}
}

var recordKinds = []string{"mode 0", "directory", "fifo", "link", "huge"}

// inTime runs fn, failing the test if it takes more than 20 s (a read
// that waits on a FIFO for ever).
func inTime(t *testing.T, what string, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- asTheServersUser(t, fn) }()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatalf("%s still waits after 20 s", what)
		return nil
	}
}

// TestStatusAnswersWhateverAWorkloadPutsForTheExitCode: a workload may
// chmod a job's files, and the last review took it may put anything in
// their place. An exitcode made mode 0, a directory, a FIFO, a link or a
// huge file made every Status of the job fail naming it, and the run never
// ended. Status now answers: the file read as the server's own, its mode
// set back, or, where it cannot be, the job failed with a reason naming
// the file.
func TestStatusAnswersWhateverAWorkloadPutsForTheExitCode(t *testing.T) {
	for _, kind := range recordKinds {
		t.Run(kind, func(t *testing.T) {
			b := newLocal(t, t.TempDir())
			ctx := context.Background()
			h, err := b.Submit(ctx, backend.Spec{RunID: "exitcode", Attempt: 1, Command: []string{"true"}})
			if err != nil {
				t.Fatal(err)
			}
			if st := backendtest.WaitFinal(t, b, h); st.State != backend.Succeeded {
				t.Fatalf("status %+v, want succeeded", st)
			}
			waitEnded(t, b, h)
			path := filepath.Join(b.StateDir(), "jobs", h, "exitcode")
			replaceRecord(t, path, kind, []byte("0\n"), 1<<20)
			var st backend.Status
			err = inTime(t, "Status", func() (err error) {
				st, err = b.Status(ctx, h)
				return err
			})
			if err != nil {
				t.Fatalf("Status with %s for exitcode: %v; want an answer", kind, err)
			}
			want := backend.Failed
			if kind == "mode 0" {
				want = backend.Succeeded
			}
			if st.State != want {
				t.Fatalf("Status with %s for exitcode: %+v; want %s", kind, st, want)
			}
			// The reason names the file within the job's directory: the
			// run's tenant reads it, and the state directory's path is
			// the server's.
			if want == backend.Failed && (!strings.Contains(st.Reason, "exitcode") || strings.Contains(st.Reason, b.StateDir())) {
				t.Errorf("reason %q does not name exitcode, or names the state directory %s", st.Reason, b.StateDir())
			}
		})
	}
}

// TestCleanRemovesTheWorkDirWhateverAWorkloadPutsForTheRecord: Clean read
// job.json with os.ReadFile: made mode 0, or a directory, it failed and
// kept the working directory for good; a FIFO held it for ever; a huge
// file was read whole; and a link was followed, so that the working
// directory another record names was removed in the job's place. Clean now
// reads it as the server's own record and, where it cannot, removes the
// job's own working directory.
func TestCleanRemovesTheWorkDirWhateverAWorkloadPutsForTheRecord(t *testing.T) {
	for _, kind := range recordKinds {
		t.Run(kind, func(t *testing.T) {
			b := newLocal(t, t.TempDir())
			ctx := context.Background()
			spec := backend.Spec{RunID: "record", Attempt: 1, Command: []string{"/bin/sh", "-c", "echo x >f"}}
			h, err := b.Submit(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			if st := backendtest.WaitFinal(t, b, h); st.State != backend.Succeeded {
				t.Fatalf("status %+v, want succeeded", st)
			}
			waitEnded(t, b, h)
			wd := b.WorkDir(spec)
			other := b.WorkDir(backend.Spec{RunID: "other", Attempt: 1})
			if err := os.MkdirAll(other, 0o700); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(b.StateDir(), "jobs", h, "job.json")
			replaceRecord(t, path, kind, []byte(`{"workDir":"`+other+`"}`), 2<<20)
			if err := inTime(t, "Clean", func() error { return b.Clean(ctx, h) }); err != nil {
				t.Fatalf("Clean with %s for job.json: %v", kind, err)
			}
			if _, err := os.Lstat(wd); !os.IsNotExist(err) {
				t.Errorf("the job's working directory after Clean: %v; want it removed", err)
			}
			if _, err := os.Lstat(other); err != nil {
				t.Errorf("another job's working directory after Clean: %v; want it kept", err)
			}
		})
	}
}

// TestCleanRemovesADirectoryItsWorkloadMadeUnwritable: a workload of the
// server's user that made directories of its working directory mode 0 or
// 0500 kept Clean from removing it. Clean now sets their modes back.
func TestCleanRemovesADirectoryItsWorkloadMadeUnwritable(t *testing.T) {
	b := newLocal(t, t.TempDir())
	ctx := context.Background()
	spec := backend.Spec{RunID: "unwritable", Attempt: 1, Command: []string{"/bin/sh", "-c",
		"mkdir -p a/b c && echo x >a/b/f && echo y >c/g && chmod 0 a/b c && chmod 0500 a . && chmod 0 c/../a/../c 2>/dev/null; true"}}
	h, err := b.Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if st := backendtest.WaitFinal(t, b, h); st.State != backend.Succeeded {
		t.Fatalf("status %+v, want succeeded", st)
	}
	waitEnded(t, b, h)
	wd := b.WorkDir(spec)
	if fi, err := os.Stat(filepath.Join(wd, "a")); err != nil || fi.Mode().Perm() != 0o500 {
		t.Fatalf("the workload's directory: %v, %v; want mode 0500", fi, err)
	}
	if err := inTime(t, "Clean", func() error { return b.Clean(ctx, h) }); err != nil {
		t.Fatalf("Clean of a directory its workload made unwritable: %v", err)
	}
	if _, err := os.Lstat(wd); !os.IsNotExist(err) {
		t.Errorf("the job's working directory after Clean: %v; want it removed", err)
	}
}

// TestStatusAnswersWithAFIFOForTheRunLock: Status opened run.lock to
// probe its lock waiting on a FIFO put in its place, and held for ever.
// It now opens it without waiting, and, where it is not a plain file,
// looks for the job's wrapper itself.
func TestStatusAnswersWithAFIFOForTheRunLock(t *testing.T) {
	for _, exitcode := range []bool{true, false} {
		t.Run(map[bool]string{true: "ended", false: "lost"}[exitcode], func(t *testing.T) {
			b := newLocal(t, t.TempDir())
			ctx := context.Background()
			h := endedJob(t, b, backend.Spec{RunID: "runlock", Attempt: 1, Command: []string{"true"}})
			dir := filepath.Join(b.StateDir(), "jobs", h)
			if !exitcode {
				if err := os.Remove(filepath.Join(dir, "exitcode")); err != nil {
					t.Fatal(err)
				}
			}
			replaceRecord(t, filepath.Join(dir, "run.lock"), "fifo", nil, 0)
			var st backend.Status
			err := inTime(t, "Status", func() (err error) {
				st, err = b.Status(ctx, h)
				return err
			})
			want := backend.Succeeded
			if !exitcode {
				want = backend.Lost
			}
			if err != nil || st.State != want {
				t.Fatalf("Status with a FIFO for run.lock: %+v, %v; want %s", st, err, want)
			}
		})
	}
}
