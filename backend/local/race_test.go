package local_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/backendtest"
	"meridian.dev/meridian/backend/local"
)

// chmodAgain has the record at path made mode 0 again by a workload right
// after the server set its mode back, times times (-1: every time).
func chmodAgain(t *testing.T, path string, times int) {
	t.Helper()
	undo := local.SetTestHookRestored(func(p string) {
		if p != path || times == 0 {
			return
		}
		times--
		if err := os.Chmod(path, 0); err != nil {
			t.Error(err)
		}
	})
	t.Cleanup(undo)
}

// endedJob submits a job that ends at once and waits for its wrapper to
// end.
func endedJob(t *testing.T, b *local.Local, spec backend.Spec) string {
	t.Helper()
	h, err := b.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if st := backendtest.WaitFinal(t, b, h); st.State != backend.Succeeded {
		t.Fatalf("status %+v, want succeeded", st)
	}
	waitEnded(t, b, h)
	return h
}

// TestRecordsChmoddedAgainBetweenTheResetAndTheRead: a workload of the
// server's user that made a job's record mode 0 again between the
// server's setting it back and its read made Clean keep the working
// directory (pid), Status fail (exitcode), or Submit fail (run.lock,
// output.log, lock). The server now sets it back and opens it through a
// descriptor of the very file it looked at, a few times over; a workload
// changing it back every time makes them fail closed: Clean keeps the
// directory, Status and Submit fail, each naming the file (the job is not
// failed for a race another job's workload may win).
func TestRecordsChmoddedAgainBetweenTheResetAndTheRead(t *testing.T) {
	ctx := context.Background()
	for _, times := range []int{1, -1} {
		every := times < 0
		name := map[bool]string{false: "once", true: "every time"}[every]
		t.Run("pid/"+name, func(t *testing.T) {
			b := newLocal(t, t.TempDir())
			spec := backend.Spec{RunID: "pid", Attempt: 1, Command: []string{"true"}}
			h := endedJob(t, b, spec)
			dropLaunchRecord(t, b, h)
			path := filepath.Join(b.StateDir(), "jobs", h, "pid")
			if err := os.Chmod(path, 0); err != nil {
				t.Fatal(err)
			}
			chmodAgain(t, path, times)
			err := asTheServersUser(t, func() error { return b.Clean(ctx, h) })
			_, serr := os.Lstat(b.WorkDir(spec))
			if !every && (err != nil || !os.IsNotExist(serr)) {
				t.Fatalf("Clean of a job whose pid was made mode 0 again after its reset: %v (the working directory: %v); want it removed", err, serr)
			}
			if every && (err == nil || !strings.Contains(err.Error(), path) || serr != nil) {
				t.Fatalf("Clean of a job whose pid is made mode 0 again each time: %v (the working directory: %v); want it kept, naming the file", err, serr)
			}
		})
		// The launch record, in the state directory, whose name a
		// workload may know (Landlock does not cover metadata).
		t.Run("launch/"+name, func(t *testing.T) {
			b := newLocal(t, t.TempDir())
			spec := backend.Spec{RunID: "launch", Attempt: 1, Command: []string{"true"}}
			h := endedJob(t, b, spec)
			path := filepath.Join(b.StateDir(), "launches", h)
			if err := os.Chmod(path, 0); err != nil {
				t.Fatal(err)
			}
			chmodAgain(t, path, times)
			err := asTheServersUser(t, func() error { return b.Clean(ctx, h) })
			_, serr := os.Lstat(b.WorkDir(spec))
			if !every && (err != nil || !os.IsNotExist(serr)) {
				t.Fatalf("Clean of a job whose launch record was made mode 0 again after its reset: %v (the working directory: %v); want it removed", err, serr)
			}
			if every && (err == nil || !strings.Contains(err.Error(), path) || serr != nil) {
				t.Fatalf("Clean of a job whose launch record is made mode 0 again each time: %v (the working directory: %v); want it kept, naming the file", err, serr)
			}
		})
		t.Run("exitcode/"+name, func(t *testing.T) {
			b := newLocal(t, t.TempDir())
			h := endedJob(t, b, backend.Spec{RunID: "exitcode", Attempt: 1, Command: []string{"true"}})
			path := filepath.Join(b.StateDir(), "jobs", h, "exitcode")
			if err := os.Chmod(path, 0); err != nil {
				t.Fatal(err)
			}
			chmodAgain(t, path, times)
			var st backend.Status
			err := asTheServersUser(t, func() (err error) {
				st, err = b.Status(ctx, h)
				return err
			})
			if !every && (err != nil || st.State != backend.Succeeded) {
				t.Fatalf("Status of a job whose exitcode was made mode 0 again after its reset: %+v, %v; want succeeded", st, err)
			}
			// Another job's workload may race the server: the job is not
			// failed for it, the next Status may read the file.
			if every && (err == nil || !strings.Contains(err.Error(), path)) {
				t.Fatalf("Status of a job whose exitcode is made mode 0 again each time: %+v, %v; want an error naming the file", st, err)
			}
		})
		for _, f := range []string{"run.lock", "output.log", "lock"} {
			t.Run(f+"/"+name, func(t *testing.T) {
				state := t.TempDir()
				b := newLocal(t, state)
				spec := backend.Spec{RunID: "rechmod", Attempt: 1, Command: []string{"true"}, WorkDir: t.TempDir()}
				dir := lostJob(t, state, spec, f)
				path := filepath.Join(dir, f)
				if err := os.Chmod(path, 0); err != nil {
					t.Fatal(err)
				}
				chmodAgain(t, path, times)
				var h string
				err := asTheServersUser(t, func() (err error) {
					h, err = b.Submit(ctx, spec)
					return err
				})
				if every {
					if err == nil || !strings.Contains(err.Error(), f) {
						t.Fatalf("Submit of a lost job whose %s is made mode 0 again each time: %v; want an error naming it", f, err)
					}
					return
				}
				if err != nil {
					t.Fatalf("Submit of a lost job whose %s was made mode 0 again after its reset: %v", f, err)
				}
				if st := backendtest.WaitFinal(t, b, h); st.State != backend.Succeeded {
					t.Fatalf("status %+v, want succeeded", st)
				}
			})
		}
	}
}
