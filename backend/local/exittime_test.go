package local_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
)

// TestEndNotSetBackByTheExitFilesTime: a workload of the server's user
// (the landlock sandbox) may set the times of any job's files. Status
// said the job ended when its exit code file was last modified, a time
// anyone may set: set back to the job's start, it made a job that ran for
// long count no time at all (the run controller takes an end that moves
// its own stamp earlier). The end is now that file's change time, which
// the filesystem stamps when the wrapper renames the file into place and
// which no one can set back.
func TestEndNotSetBackByTheExitFilesTime(t *testing.T) {
	ctx := context.Background()
	b := newLocal(t, t.TempDir())
	h := endedJob(t, b, backend.Spec{RunID: "endback", Attempt: 1, Command: []string{"sleep", "0.3"}})
	dir := filepath.Join(b.StateDir(), "jobs", h)
	exitcode := filepath.Join(dir, "exitcode")
	fi, err := os.Stat(exitcode)
	if err != nil {
		t.Fatal(err)
	}
	ended := fi.ModTime()
	started, err := os.Stat(filepath.Join(dir, "pid"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(exitcode, started.ModTime(), started.ModTime()); err != nil {
		t.Fatal(err)
	}
	st, err := b.Status(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	if st.Ended.Before(ended) || st.Ended.After(time.Now()) {
		t.Fatalf("the exit file's time set back to the job's start (%v): Status says it ended at %v; want no earlier than its real end, %v",
			started.ModTime(), st.Ended, ended)
	}
}
