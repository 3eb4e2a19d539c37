package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	ossignal "os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/local"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/internal/flock"
)

// TestLocalJobEndsBeforeItsTestDirectory: a local job a test started and
// left running wrote in the test's directory while t.TempDir removed it,
// and the test failed at its cleanup ("directory not empty"), or the job
// ran on after its directory was gone. The test store's directory now
// waits, before its removal, for every local job under it to end.
func TestLocalJobEndsBeforeItsTestDirectory(t *testing.T) {
	var pid int
	var start uint64
	t.Cleanup(func() {
		// Only where the subtest's cleanup did not end it, and only the
		// job's own group: its id, once the group has ended, may be any
		// other's on the machine.
		if _, ours := launchedGroup(pid, start); ours {
			syscall.Kill(-pid, syscall.SIGKILL)
		}
	})
	ok := t.Run("a job writes as its test ends", func(t *testing.T) {
		_, dir := testStore(t)
		b, err := local.New(catalog.BackendSpec{}, filepath.Join(dir, "sites", "alpha"))
		if err != nil {
			t.Fatal(err)
		}
		// It makes files in its working directory, under the test's,
		// until one cannot be made.
		h, err := b.Submit(context.Background(), backend.Spec{RunID: "writer", Attempt: 1,
			Command: []string{"/bin/sh", "-c", `i=0; while :; do i=$((i+1)); : >"f$i" 2>/dev/null || exit 0; done`}})
		if err != nil {
			t.Fatal(err)
		}
		jobDir := filepath.Join(dir, "sites", "alpha", "jobs", h)
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			pid, start = launchOf(jobDir)
			files, _ := filepath.Glob(filepath.Join(b.WorkDir(backend.Spec{RunID: "writer", Attempt: 1}), "f*"))
			if pid > 1 && len(files) > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the job wrote nothing in 10s (pid %d)", pid)
			}
		}
	})
	if !ok {
		t.Fatal("the test whose local job wrote in its directory as it ended failed (above)")
	}
	if runs, _ := launchedGroup(pid, start); runs {
		t.Errorf("the job's process group %d outlived its test", pid)
	} else {
		pid = 0
	}
}

// TestEndLocalJobsWaitsForASubmitUnderWay: a job whose Submit was under
// way as the test ended (its lock held, no record yet) was read as ended
// and never looked at again; the Submit then launched it, and it ran on
// after the test's directory was gone. It is waited for, and cancelled
// once launched.
func TestEndLocalJobsWaitsForASubmitUnderWay(t *testing.T) {
	dir := t.TempDir()
	t.Cleanup(func() { endLocalJobs(t, dir) })
	b, err := local.New(catalog.BackendSpec{}, filepath.Join(dir, "sites", "alpha"))
	if err != nil {
		t.Fatal(err)
	}
	spec := backend.Spec{RunID: "late", Attempt: 1, Command: []string{"/bin/sh", "-c", "exec sleep 600"}}
	jobDir := filepath.Join(dir, "sites", "alpha", "jobs", spec.Key())
	if err := os.MkdirAll(jobDir, 0o700); err != nil {
		t.Fatal(err)
	}
	// The job's lock, as a Submit holds it until it has launched the job:
	// the Submit below waits for it.
	lockPath := filepath.Join(jobDir, "lock")
	unlock, err := flock.LockOwn(context.Background(), lockPath)
	if err != nil {
		t.Fatal(err)
	}
	submitted := make(chan error, 1)
	go func() {
		_, err := b.Submit(context.Background(), spec)
		submitted <- err
	}()
	// Told from endLocalJobs' own loop, which looks again only once this
	// returns: the lock is handed to the Submit waiting for it before
	// endLocalJobs looks again (between the two no one holds it).
	var sawSubmit bool
	var submitErr error
	submitDone := false
	looked := func(_, why string) {
		if sawSubmit || !strings.Contains(why, "Submit") {
			return
		}
		sawSubmit = true
		unlock()
		for !lockTaken(lockPath) && !submitDone {
			select {
			case submitErr = <-submitted:
				submitDone = true
			case <-time.After(time.Millisecond):
			}
		}
	}
	errs := endLocalJobsWithin(dir, localJobsEndWithin, looked)
	if !sawSubmit {
		unlock()
		<-submitted
		t.Fatalf("endLocalJobs returned (%v) while a Submit held the job's lock; the job it launched then ran on", errs)
	}
	if len(errs) > 0 {
		t.Fatalf("endLocalJobs: %v", errs)
	}
	if !submitDone {
		submitErr = <-submitted
	}
	if submitErr != nil {
		t.Fatalf("the Submit: %v", submitErr)
	}
	// The Submit launched the job, or found it cancelled first and
	// launched nothing: either way nothing of it runs now.
	if lockTaken(filepath.Join(jobDir, "run.lock")) {
		t.Errorf("the job's wrapper holds its run lock after endLocalJobs returned")
	}
	if pid, start := launchOf(jobDir); pid > 1 {
		if runs, _ := launchedGroup(pid, start); runs {
			t.Errorf("the job's process group %d runs after endLocalJobs returned", pid)
		}
		st, err := b.Status(context.Background(), spec.Key())
		if err != nil {
			t.Fatal(err)
		}
		if !st.State.Final() {
			t.Errorf("the job its Submit launched reads %s (%s) after endLocalJobs returned; want it ended", st.State, st.Reason)
		}
	}
}

// TestEndLocalJobsLeavesAReusedGroup: a job's wrapper pid, once its group
// has ended, may be another process's on the machine. It was waited on
// (30 s, then the test failed) and, at the end of the test that checks
// endLocalJobs, killed. A group whose leader is alive under another start
// time than the job's launch recorded is not the job's.
func TestEndLocalJobsLeavesAReusedGroup(t *testing.T) {
	dir := t.TempDir()
	site := filepath.Join(dir, "sites", "alpha")
	if _, err := local.New(catalog.BackendSpec{}, site); err != nil {
		t.Fatal(err)
	}
	// Another's process group, under the id the job's wrapper had.
	other := exec.Command("sleep", "600")
	other.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Process.Kill(); other.Wait() })
	pid := other.Process.Pid
	start, ok := procStart(pid)
	if !ok {
		t.Fatalf("the start time of %d cannot be read", pid)
	}
	jobDir := filepath.Join(site, "jobs", "gone-1")
	if err := os.MkdirAll(jobDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(jobDir, "pid"), []byte(strconv.Itoa(pid)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rec, _ := json.Marshal(map[string]any{"workDir": filepath.Join(dir, "work", "gone-1"), "pid": pid, "start": start - 1})
	if err := os.WriteFile(filepath.Join(site, "launches", "gone-1"), rec, 0o600); err != nil {
		t.Fatal(err)
	}
	if runs, ours := launchedGroup(pid, start-1); runs || ours {
		t.Errorf("the group %d whose leader began after the job's launch reads as the job's (runs %v, ours %v)", pid, runs, ours)
	}
	if errs := endLocalJobsWithin(dir, 2*time.Second, nil); len(errs) > 0 {
		t.Errorf("endLocalJobs waited on another's process group: %v", errs)
	}
	if err := syscall.Kill(-pid, 0); err != nil {
		t.Errorf("the other process group %d was signalled: %v", pid, err)
	}
	if runs, ours := launchedGroup(pid, start); !runs || !ours {
		t.Errorf("the group %d with the start time its launch recorded reads as not the job's (runs %v, ours %v)", pid, runs, ours)
	}
}

// TestEndLocalJobsNotBlockedByAFIFO: a workload may put a FIFO in place
// of its job's files (its run lock, its Submit's lock, its pid file), and
// opening one for reading waited for a writer for good: the test's
// cleanup never ended.
func TestEndLocalJobsNotBlockedByAFIFO(t *testing.T) {
	dir := t.TempDir()
	site := filepath.Join(dir, "sites", "alpha")
	if _, err := local.New(catalog.BackendSpec{}, site); err != nil {
		t.Fatal(err)
	}
	jobDir := filepath.Join(site, "jobs", "fifo-1")
	if err := os.MkdirAll(jobDir, 0o700); err != nil {
		t.Fatal(err)
	}
	fifos := []string{filepath.Join(jobDir, "lock"), filepath.Join(jobDir, "run.lock"), filepath.Join(jobDir, "pid"), filepath.Join(site, "launches", "fifo-1")}
	for _, p := range fifos {
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Whatever still waits on one is let go at the end.
	t.Cleanup(func() {
		for _, p := range fifos {
			if f, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				f.Close()
			}
		}
	})
	done := make(chan []error, 1)
	go func() { done <- endLocalJobsWithin(dir, 5*time.Second, nil) }()
	select {
	case errs := <-done:
		if len(errs) > 0 {
			t.Errorf("endLocalJobs: %v", errs)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("endLocalJobs has not returned in 20s: it waits on a FIFO in the job's directory")
	}
}

// TestEndLocalJobsLeavesSlurmSites: a Slurm site's directory has
// jobs/KEY directories too. Taken for a local site's, local.New made the
// local backend's directories in it, and its jobs were cancelled as
// local ones.
func TestEndLocalJobsLeavesSlurmSites(t *testing.T) {
	dir := t.TempDir()
	site := filepath.Join(dir, "sites", "slurmy")
	for _, d := range []string{"jobs/run-1", "handles", "ended"} {
		if err := os.MkdirAll(filepath.Join(site, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(site, "jobs", "run-1", "lock"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if errs := endLocalJobsWithin(dir, 5*time.Second, nil); len(errs) > 0 {
		t.Errorf("endLocalJobs: %v", errs)
	}
	for _, d := range []string{"launches", "unreadable", "work"} {
		if _, err := os.Lstat(filepath.Join(site, d)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("endLocalJobs made the local backend's %s in the Slurm site's directory (%v)", d, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(site, "jobs", "run-1", "cancelled")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("endLocalJobs cancelled the Slurm site's job as a local one (%v)", err)
	}
}

// localJobsEndWithin bounds how long a test's cleanup waits for the
// local jobs under its directory to end (endLocalJobs).
const localJobsEndWithin = 30 * time.Second

// endLocalJobs cancels every local job under dir's sites and waits until
// each has ended (no Submit of it under way, its wrapper gone, its
// process group empty, what it started gone: Status, Clean),
// localJobsEndWithin at most for them all; a job that has not ended by
// then fails the test, named. A job still running as the test's
// directory is removed writes in it, and the removal fails ("directory
// not empty"), or it runs on with its directory gone. testStore registers
// it before its directory's removal; fixtures whose jobs' agents report
// to a server of theirs register it again after that server (so that it
// runs before the server closes: an agent that cannot report its stop
// ends only at the stop's grace, killed). It is safe to call again.
func endLocalJobs(tb testing.TB, dir string) {
	tb.Helper()
	for _, err := range endLocalJobsWithin(dir, localJobsEndWithin, nil) {
		tb.Error(err)
	}
}

// endLocalJobsWithin is endLocalJobs, bounded by within, its errors
// returned; looked, where not nil, is told each time a job is found still
// running, and why.
func endLocalJobsWithin(dir string, within time.Duration, looked func(jobDir, why string)) []error {
	deadline := time.Now().Add(within)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	seen := map[string]bool{}
	var all []error
	for {
		// Read again once those found have ended: a job launched as the
		// first were read is ended too.
		var jobs []string
		for _, s := range localSites(dir) {
			ents, _ := os.ReadDir(filepath.Join(s, "jobs"))
			for _, e := range ents {
				if j := filepath.Join(s, "jobs", e.Name()); e.IsDir() && !seen[j] {
					seen[j] = true
					jobs = append(jobs, j)
				}
			}
		}
		if len(jobs) == 0 {
			return all
		}
		errs := make([]error, len(jobs))
		var wg sync.WaitGroup
		for i, j := range jobs {
			wg.Go(func() { errs[i] = endLocalJob(ctx, j, looked) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				all = append(all, fmt.Errorf("local job %s at site %s has not ended %s after its test: %w; its directory would be removed under it",
					filepath.Base(jobs[i]), filepath.Base(filepath.Dir(filepath.Dir(jobs[i]))), within, err))
			}
		}
	}
}

// localSites are the site directories under dir that the local backend
// made (local.New makes its launches directory before any job's). A
// Slurm site's directory has jobs/KEY directories too: taken for a local
// site's, local.New made the local backend's directories in it, and its
// jobs were looked at as local ones.
func localSites(dir string) []string {
	sites, _ := filepath.Glob(filepath.Join(dir, "sites", "*"))
	var local []string
	for _, s := range sites {
		if fi, err := os.Lstat(filepath.Join(s, "launches")); err != nil || !fi.IsDir() {
			continue
		}
		if _, err := os.Lstat(filepath.Join(s, "handles")); err == nil {
			continue // the Slurm backend's records
		}
		local = append(local, s)
	}
	return local
}

// endLocalJob cancels the local job whose directory is jobDir, again
// while it runs, and waits until it has ended, or ctx is done: then it
// says what still runs. A job whose Submit was under way when it was
// first looked at (no record yet: its Cancel finds nothing) is launched
// after: it is cancelled once it is.
func endLocalJob(ctx context.Context, jobDir string, looked func(jobDir, why string)) error {
	handle := filepath.Base(jobDir)
	b, err := local.New(catalog.BackendSpec{}, filepath.Dir(filepath.Dir(jobDir)))
	if err != nil {
		return err
	}
	var cancelErr error
	for {
		why, runs := stillRuns(ctx, b, handle, jobDir)
		if why == "" {
			return nil
		}
		if looked != nil {
			looked(jobDir, why)
		}
		if runs && ctx.Err() == nil {
			cancelErr = b.Cancel(ctx, handle)
			if errors.Is(cancelErr, backend.ErrNotFound) {
				// No record: its Submit has not launched it (yet).
				cancelErr = nil
			}
		}
		select {
		case <-ctx.Done():
			// Looked at once more: a Cancel may have returned only now.
			last, cancelLast := context.WithTimeout(context.Background(), 2*time.Second)
			why, _ = stillRuns(last, b, handle, jobDir)
			cancelLast()
			if why == "" {
				return nil
			}
			if cancelErr != nil {
				why += fmt.Sprintf(" (its Cancel: %v)", cancelErr)
			}
			return errors.New(why)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stillRuns says what of the job still runs, or "" once nothing does;
// runs says whether the job itself does (a Cancel may stop it), not only
// what it left.
func stillRuns(ctx context.Context, b *local.Local, handle, jobDir string) (why string, runs bool) {
	if lockTaken(filepath.Join(jobDir, "lock")) {
		return "its Submit holds its lock", true
	}
	if lockTaken(filepath.Join(jobDir, "run.lock")) {
		return "its wrapper holds its run lock", true
	}
	if pid, start := launchOf(jobDir); pid > 1 {
		if runs, _ := launchedGroup(pid, start); runs {
			return fmt.Sprintf("its process group %d has processes left", pid), true
		}
	}
	if _, err := os.Lstat(filepath.Join(jobDir, "job.json")); errors.Is(err, os.ErrNotExist) {
		return "", false
	}
	st, err := b.Status(ctx, handle)
	if err != nil {
		return fmt.Sprintf("its status: %v", err), false
	}
	if !st.State.Final() {
		return fmt.Sprintf("it reads as %s (%s)", st.State, st.Reason), true
	}
	// Clean waits (TreeWait) for what the job started outside its group
	// and for its command's lock, and says what is left.
	if err := b.Clean(ctx, handle); err != nil {
		return err.Error(), false
	}
	return "", false
}

// launchOf is the pid of the job's wrapper (its process group's) and
// that process's start time, as the server's launch record of the job
// (STATE/launches/KEY, beside its jobs directory) keeps them; 0, 0 where
// none is there yet. The job's own pid file is written where its
// workload may write.
func launchOf(jobDir string) (pid int, start uint64) {
	data, err := readRegular(filepath.Join(filepath.Dir(filepath.Dir(jobDir)), "launches", filepath.Base(jobDir)), 64<<10)
	if err != nil {
		return 0, 0
	}
	var rec struct {
		Pid   int    `json:"pid"`
		Start uint64 `json:"start"`
	}
	if json.Unmarshal(data, &rec) != nil {
		return 0, 0
	}
	return rec.Pid, rec.Start
}

// launchedGroup says whether the process group of the job's wrapper, pid,
// whose start time the launch recorded as start, still has processes
// (runs), and whether its leader is that very process (ours: only then is
// it signalled). A group whose leader is alive under another start time
// is another's: the id is given again only once the job's group is
// empty, and a signal to it, or a wait on it, was to a group of any test
// or user of the machine. One whose leader is gone (the job's wrapper
// killed alone) runs, but cannot be told as the job's.
func launchedGroup(pid int, start uint64) (runs, ours bool) {
	if pid <= 1 {
		return false, false
	}
	if err := syscall.Kill(-pid, 0); errors.Is(err, syscall.ESRCH) {
		return false, false
	}
	got, ok := procStart(pid)
	if !ok {
		return true, false
	}
	if start == 0 || got != start {
		return start == 0, false
	}
	return true, true
}

// procStart is the start time of process pid (/proc/PID/stat, field 22,
// clock ticks since boot), as the local backend reads it.
func procStart(pid int) (uint64, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name, in parentheses, may hold anything: the fields
	// are counted from its last closing parenthesis (field 3).
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 20 {
		return 0, false
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	return start, err == nil
}

// openRegular opens path for reading without following a link in its
// place and without waiting on a FIFO there (a workload may plant either
// in its job's directory; a FIFO blocked the test's cleanup for good),
// and refuses anything but a regular file.
func openRegular(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	return f, nil
}

// readRegular reads at most limit bytes of the regular file at path
// (openRegular).
func readRegular(path string, limit int64) ([]byte, error) {
	f, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit))
}

// standInAgentFor bounds how long standInAgent runs unstopped.
const standInAgentFor = 10 * time.Minute

// standInAgent is what this test binary does when a controller whose test
// gave it no agent command (agentConfig gives one) launches it as a
// site's agent: defaultAgentCommand runs this executable with "agent".
// TestMain took that for no argument of its own, and the job ran the
// package's whole test suite, for minutes, writing its output in the
// test's directory and starting jobs of its own after the test had
// ended. It stands in for an agent the test never talks to: it runs
// until it is stopped (or standInAgentFor), as the job ran on before,
// longer than any test waits for it, and ends as a stopped job does.
func standInAgent() int {
	fmt.Fprintln(os.Stderr, "run tests: a stand-in for the site agent (the test gave its controller no agent command); it runs until stopped")
	sig := make(chan os.Signal, 1)
	ossignal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-sig:
		return 128 + int(syscall.SIGTERM)
	case <-time.After(standInAgentFor):
		fmt.Fprintf(os.Stderr, "run tests: the stand-in agent was not stopped in %s\n", standInAgentFor)
		return 1
	}
}
