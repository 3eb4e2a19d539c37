package local_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/backendtest"
	"meridian.dev/meridian/backend/local"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/internal/atomicfile"
	"meridian.dev/meridian/internal/flock"
)

func checkGone(t *testing.T, gone, kept []string) {
	t.Helper()
	for _, p := range gone {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s: %v, want it removed", p, err)
		}
	}
	for _, p := range kept {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s: %v, want it kept", p, err)
		}
	}
}

// TestStaleTempsRemovedAtStart: a server killed while writing a job's
// record or the site-failed mark left the temporary file in the state
// directory for good. The next start removes those an hour old; a fresh
// one, which another backend on the directory may be filling, stays, and
// so do files of other names and what a link leads to.
func TestStaleTempsRemovedAtStart(t *testing.T) {
	state := t.TempDir()
	old := time.Now().Add(-2 * atomicfile.StaleTempAge)
	job := filepath.Join(state, "jobs", "r-1")
	gone := []string{
		backendtest.WriteTemp(t, filepath.Join(state, ".site-failed.tmp-1"), old),
		backendtest.WriteTemp(t, filepath.Join(job, ".job.json.tmp-2"), old),
		backendtest.WriteTemp(t, filepath.Join(job, ".cancelled.tmp-3"), old),
	}
	elsewhere := t.TempDir()
	kept := []string{
		backendtest.WriteTemp(t, filepath.Join(job, ".cancelled.tmp-4"), time.Now()),
		backendtest.WriteTemp(t, filepath.Join(job, ".output.log.tmp-5"), old),
		backendtest.WriteTemp(t, filepath.Join(elsewhere, ".job.json.tmp-6"), old),
	}
	if err := os.Symlink(elsewhere, filepath.Join(state, "jobs", "r-2")); err != nil {
		t.Fatal(err)
	}
	if _, err := local.New(catalog.BackendSpec{Type: "local"}, state); err != nil {
		t.Fatal(err)
	}
	checkGone(t, gone, kept)
}

// TestFreshTempKeptByAServerWhoseClockRunsAhead: a temporary file's age
// was counted on the starting server's own clock from its time, which the
// filesystem stamps on its own: a server sharing the state directory
// whose clock ran more than an hour ahead of the filesystem's removed the
// job record another server was filling (its Submit then failed). The age
// is now counted on the filesystem's clock (injected here, two hours
// behind the server's): a fresh file stays, one stale on it goes.
func TestFreshTempKeptByAServerWhoseClockRunsAhead(t *testing.T) {
	state := t.TempDir()
	files := time.Now().Add(-2 * atomicfile.StaleTempAge)
	t.Cleanup(local.SetStartFileClock(func() time.Time { return files }))
	job := filepath.Join(state, "jobs", "r-1")
	kept := []string{
		backendtest.WriteTemp(t, filepath.Join(job, ".job.json.tmp-1"), files),
		backendtest.WriteTemp(t, filepath.Join(state, ".site-failed.tmp-2"), files),
		backendtest.WriteTemp(t, filepath.Join(state, "unreadable", ".r-1.tmp-3"), files),
	}
	gone := []string{backendtest.WriteTemp(t, filepath.Join(job, ".cancelled.tmp-4"), files.Add(-2*atomicfile.StaleTempAge))}
	if _, err := local.New(catalog.BackendSpec{Type: "local"}, state); err != nil {
		t.Fatal(err)
	}
	checkGone(t, gone, kept)
}

// TestSubmitRemovesKilledSubmitsTemp: job.json is written only by Submit,
// under the job's lock: a temporary file of it, however fresh, is a killed
// Submit's once the lock is taken, and the next Submit removes it; while
// another holds the lock, it stays.
func TestSubmitRemovesKilledSubmitsTemp(t *testing.T) {
	state := t.TempDir()
	b, err := local.New(catalog.BackendSpec{Type: "local"}, state)
	if err != nil {
		t.Fatal(err)
	}
	spec := backend.Spec{RunID: "temps", Attempt: 1, Command: []string{"true"}, WorkDir: t.TempDir()}
	dir := filepath.Join(state, "jobs", spec.Key())
	temp := backendtest.WriteTemp(t, filepath.Join(dir, ".job.json.tmp-77"), time.Now())
	lockPath := filepath.Join(dir, "lock")
	unlock, err := flock.Lock(context.Background(), lockPath)
	if err != nil {
		t.Fatal(err)
	}
	if lockPath, err = filepath.EvalSymlinks(lockPath); err != nil {
		t.Fatal(err)
	}
	held := opens(lockPath)
	type result struct {
		h   string
		err error
	}
	done := make(chan result, 1)
	go func() {
		h, err := b.Submit(context.Background(), spec)
		done <- result{h, err}
	}()
	// Until the Submit has the job's lock file open, waiting for the
	// lock: what it does before the lock is done, and the temp, had it
	// been removed without the lock, would be gone.
	for deadline := time.Now().Add(10 * time.Second); opens(lockPath) <= held; time.Sleep(time.Millisecond) {
		select {
		case r := <-done:
			t.Fatalf("Submit returned (%q, %v) while another held the job's lock", r.h, r.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the Submit did not open the job's lock file in 10 s")
		}
	}
	checkGone(t, nil, []string{temp})
	unlock()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer b.Cancel(context.Background(), r.h)
	checkGone(t, []string{temp}, nil)
}

// opens counts this process's open files that are path.
func opens(path string) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range ents {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && target == path {
			n++
		}
	}
	return n
}

// killedWrapperJob makes the directory of a job whose wrapper wrote its
// pid and its .exitcode.tmp and was killed before the rename, as the
// job's files say it; it returns the job's directory and the temp.
func killedWrapperJob(t *testing.T, state, key string) (dir, temp string) {
	t.Helper()
	dir = filepath.Join(state, "jobs", key)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"job.json": "{}\n", "pid": "2147483646\n", "run.lock": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir, backendtest.WriteTemp(t, filepath.Join(dir, ".exitcode.tmp"), time.Now())
}

// TestKilledWrappersExitCodeTempRemoved: the job's wrapper writes
// .exitcode.tmp itself and renames it; one killed in between left it for
// good. It is removed at a start and when the job's status reads as
// ended, where the run lock, which every wrapper holds for its whole
// life, is free; while it is held (a wrapper still writing), it stays.
func TestKilledWrappersExitCodeTempRemoved(t *testing.T) {
	state := t.TempDir()
	_, atStart := killedWrapperJob(t, state, "r-1")
	heldDir, held := killedWrapperJob(t, state, "r-2")
	unlock, err := flock.Lock(context.Background(), filepath.Join(heldDir, "run.lock"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := local.New(catalog.BackendSpec{Type: "local"}, state)
	if err != nil {
		t.Fatal(err)
	}
	checkGone(t, []string{atStart}, []string{held})

	if st, err := b.Status(context.Background(), "r-2"); err != nil || st.State != backend.Running {
		t.Fatalf("job with its run lock held: %+v, %v; want running", st, err)
	}
	checkGone(t, nil, []string{held})
	unlock()

	_, atStatus := killedWrapperJob(t, state, "r-3")
	for _, h := range []string{"r-2", "r-3"} {
		st, err := b.Status(context.Background(), h)
		if err != nil || st.State != backend.Lost {
			t.Fatalf("%s: %+v, %v; want lost", h, st, err)
		}
	}
	checkGone(t, []string{held, atStatus}, nil)
}

// TestKilledWrappersPidTempRemoved: the job's wrapper writes its pid to
// .pid.tmp and renames it; one killed in between left it for good. Where
// the job has a pid or an exit code (no wrapper is launched for it again)
// and the run lock is free, a start and a status read as ended remove it.
// A job with neither may be launched again by a later Submit: only a
// Submit removes it there, under the job's lock, here one of a cancelled
// job, which launches nothing; with the run lock held, it stays.
func TestKilledWrappersPidTempRemoved(t *testing.T) {
	state := t.TempDir()
	dir, _ := killedWrapperJob(t, state, "r-1")
	atStart := backendtest.WriteTemp(t, filepath.Join(dir, ".pid.tmp"), time.Now())
	b, err := local.New(catalog.BackendSpec{Type: "local"}, state)
	if err != nil {
		t.Fatal(err)
	}
	checkGone(t, []string{atStart}, nil)

	atStatus := backendtest.WriteTemp(t, filepath.Join(dir, ".pid.tmp"), time.Now())
	if st, err := b.Status(context.Background(), "r-1"); err != nil || st.State != backend.Lost {
		t.Fatalf("%+v, %v; want lost", st, err)
	}
	checkGone(t, []string{atStatus}, nil)

	// Killed before its rename: no pid, and the job reads as lost.
	spec := backend.Spec{RunID: "nopid", Attempt: 1, Command: []string{"true"}, WorkDir: t.TempDir()}
	noPid := filepath.Join(state, "jobs", spec.Key())
	for name, data := range map[string]string{"job.json": "{}\n", "run.lock": "", "cancelled": "now\n"} {
		if err := os.MkdirAll(noPid, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(noPid, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	temp := backendtest.WriteTemp(t, filepath.Join(noPid, ".pid.tmp"), time.Now())
	if _, err := local.New(catalog.BackendSpec{Type: "local"}, state); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Status(context.Background(), spec.Key()); err != nil {
		t.Fatal(err)
	}
	checkGone(t, nil, []string{temp})

	unlock, err := flock.Lock(context.Background(), filepath.Join(noPid, "run.lock"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Submit(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	checkGone(t, nil, []string{temp})
	unlock()
	if _, err := b.Submit(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	checkGone(t, []string{temp}, nil)
	if _, err := os.Stat(filepath.Join(noPid, "pid")); !os.IsNotExist(err) {
		t.Errorf("a cancelled job was launched: pid %v", err)
	}
}
