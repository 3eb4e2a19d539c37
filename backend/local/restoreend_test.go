package local_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
)

// TestEndKeptThroughACopyOfTheStateDir: a job's end was its exit code
// file's change time, which a copy or a restore of the state directory
// (cp -a, tar, rsync -a), or a chown -R over it, moves to then: a job
// that ended while no one looked was counted until the copy. Its wrapper
// now keeps its end beside its launch record, which a copy keeps.
func TestEndKeptThroughACopyOfTheStateDir(t *testing.T) {
	ctx := context.Background()
	b := newLocal(t, t.TempDir())
	h := endedJob(t, b, backend.Spec{RunID: "copied", Attempt: 1, Command: []string{"true"}})
	before, err := b.Status(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	if before.Ended.IsZero() {
		t.Fatalf("an ended job's Status says no end: %+v", before)
	}
	time.Sleep(20 * time.Millisecond) // the copy's change times lie after the end
	copied := filepath.Join(t.TempDir(), "state")
	if out, err := exec.Command("cp", "-a", b.StateDir(), copied).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v: %s", err, out)
	}
	after, err := newLocal(t, copied).Status(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	if !after.Ended.Equal(before.Ended) {
		t.Fatalf("the job's end read from a copy of the state directory is %v; want %v, as before the copy", after.Ended, before.Ended)
	}
}

// TestEndNotSetBackByTheEndRecordsTime: the wrapper's kept end is its
// content, not a file time a workload of the server's user may set: the
// times of both the exit code file and the end record set back to the
// job's start leave its end where it was.
func TestEndNotSetBackByTheEndRecordsTime(t *testing.T) {
	ctx := context.Background()
	b := newLocal(t, t.TempDir())
	h := endedJob(t, b, backend.Spec{RunID: "endrec", Attempt: 1, Command: []string{"sleep", "0.3"}})
	dir := filepath.Join(b.StateDir(), "jobs", h)
	before, err := b.Status(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{filepath.Join(dir, "exitcode"), filepath.Join(b.StateDir(), "launches", h+".end")} {
		if err := os.Chtimes(path, before.Started, before.Started); err != nil {
			t.Fatal(err)
		}
	}
	after, err := b.Status(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	if after.Ended.Sub(after.Started) < 300*time.Millisecond {
		t.Fatalf("the job ran 0.3 s and its files' times set back to its start: Status says %v to %v", after.Started, after.Ended)
	}
}

// TestExitCodeNotMovedIntoALinkedDirectory: the wrapper renamed its exit
// code into place with mv -f, which, exitcode being a link to a
// directory (the workload's), moved the temp into that directory: the
// job's exit code lost, and a file of the server's written where the
// workload chose. It is now renamed over the name (mv -T).
func TestExitCodeNotMovedIntoALinkedDirectory(t *testing.T) {
	b := newLocal(t, t.TempDir())
	target := t.TempDir()
	spec := backend.Spec{RunID: "exitlink", Attempt: 1}
	exitcode := filepath.Join(b.StateDir(), "jobs", spec.RunID+"-1", "exitcode")
	spec.Command = []string{"ln", "-s", target, exitcode}
	h := endedJob(t, b, spec)
	if h != spec.RunID+"-1" {
		t.Fatalf("handle %q, want %q", h, spec.RunID+"-1")
	}
	ents, err := os.ReadDir(target)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Fatalf("the wrapper wrote %v into the directory the job's exitcode link points to", ents[0].Name())
	}
}

// TestKilledWrappersEndKeptThroughACopy: a job whose wrapper was killed
// once it had written its exit code's temp, before it kept its end, was
// charged until the server put that temp in place (its change time), and
// a copy or a restore of the state directory since moved that on to then.
// The temp's own change time is now kept as its end.
func TestKilledWrappersEndKeptThroughACopy(t *testing.T) {
	ctx := context.Background()
	b := newLocal(t, t.TempDir())
	h := endedJob(t, b, backend.Spec{RunID: "killedend", Attempt: 1, Command: []string{"true"}})
	dir := filepath.Join(b.StateDir(), "jobs", h)
	// As the wrapper killed between its temp's write and its end's.
	if err := os.Rename(filepath.Join(dir, "exitcode"), filepath.Join(dir, ".exitcode.tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(b.StateDir(), "launches", h+".end")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // the server's look lies after the temp's write
	before, err := b.Status(ctx, h)
	if err != nil || before.State != backend.Succeeded {
		t.Fatalf("status %+v, %v; want succeeded", before, err)
	}
	time.Sleep(20 * time.Millisecond) // the copy's change times lie after the look
	copied := filepath.Join(t.TempDir(), "state")
	if out, err := exec.Command("cp", "-a", b.StateDir(), copied).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v: %s", err, out)
	}
	after, err := newLocal(t, copied).Status(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	if !after.Ended.Equal(before.Ended) {
		t.Fatalf("the end of a job whose wrapper was killed, read from a copy of the state directory, is %v; want %v, as before the copy", after.Ended, before.Ended)
	}
}
