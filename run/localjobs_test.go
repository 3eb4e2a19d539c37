package run

import (
	"context"
	"errors"
	"fmt"
	"os"
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
)

// TestLocalJobEndsBeforeItsTestDirectory: a local job a test started and
// left running wrote in the test's directory while t.TempDir removed it,
// and the test failed at its cleanup ("directory not empty"), or the job
// ran on after its directory was gone. The test store's directory now
// waits, before its removal, for every local job under it to end.
func TestLocalJobEndsBeforeItsTestDirectory(t *testing.T) {
	var pid int
	t.Cleanup(func() {
		if pid > 1 {
			syscall.Kill(-pid, syscall.SIGKILL) // only where the subtest's cleanup did not end it
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
			pid = wrapperPidOf(jobDir)
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
	if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the job's process group %d outlived its test (kill: %v)", pid, err)
	}
}

// localJobsEndWithin bounds how long a test's cleanup waits for the
// local jobs under its directory to end (endLocalJobs).
const localJobsEndWithin = 30 * time.Second

// endLocalJobs cancels every local job under dir's sites and waits until
// each has ended (its wrapper gone, its process group empty, what it
// started gone: Status, Clean), localJobsEndWithin at most for them all;
// a job that has not ended by then fails the test, named. A job still
// running as the test's directory is removed writes in it, and the
// removal fails ("directory not empty"), or it runs on with its directory
// gone. testStore registers it before its directory's removal; fixtures
// that must have the jobs gone earlier (before a server the jobs' agents
// talk to closes) call it themselves too.
func endLocalJobs(tb testing.TB, dir string) {
	tb.Helper()
	deadline := time.Now().Add(localJobsEndWithin)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	seen := map[string]bool{}
	for {
		// Read again once those found have ended: a job launched as the
		// first were read is ended too.
		var jobs []string
		sites, _ := filepath.Glob(filepath.Join(dir, "sites", "*", "jobs"))
		for _, s := range sites {
			ents, _ := os.ReadDir(s)
			for _, e := range ents {
				if j := filepath.Join(s, e.Name()); e.IsDir() && !seen[j] {
					seen[j] = true
					jobs = append(jobs, j)
				}
			}
		}
		if len(jobs) == 0 {
			return
		}
		errs := make([]error, len(jobs))
		var wg sync.WaitGroup
		for i, j := range jobs {
			wg.Go(func() { errs[i] = endLocalJob(ctx, j) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				tb.Errorf("local job %s at site %s has not ended %s after its test: %v; its directory would be removed under it",
					filepath.Base(jobs[i]), filepath.Base(filepath.Dir(filepath.Dir(jobs[i]))), localJobsEndWithin, err)
			}
		}
	}
}

// endLocalJob cancels the local job whose directory is jobDir and waits
// until it has ended, or ctx is done: then it says what still runs.
func endLocalJob(ctx context.Context, jobDir string) error {
	handle := filepath.Base(jobDir)
	b, err := local.New(catalog.BackendSpec{}, filepath.Dir(filepath.Dir(jobDir)))
	if err != nil {
		return err
	}
	cancelErr := b.Cancel(ctx, handle)
	if errors.Is(cancelErr, backend.ErrNotFound) {
		// No record: its Submit never got to launch it. Nothing
		// launched holds its run lock (below) all the same.
		cancelErr = nil
	}
	for {
		why := stillRuns(ctx, b, handle, jobDir)
		if why == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			if cancelErr != nil {
				why += fmt.Sprintf(" (its Cancel: %v)", cancelErr)
			}
			return errors.New(why)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stillRuns says what of the job still runs, or "" once nothing does.
func stillRuns(ctx context.Context, b *local.Local, handle, jobDir string) string {
	if lockTaken(filepath.Join(jobDir, "run.lock")) {
		return "its wrapper holds its run lock"
	}
	if pid := wrapperPidOf(jobDir); pid > 1 {
		if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
			return fmt.Sprintf("its process group %d has processes left", pid)
		}
	}
	if _, err := os.Stat(filepath.Join(jobDir, "job.json")); errors.Is(err, os.ErrNotExist) {
		return ""
	}
	st, err := b.Status(ctx, handle)
	if err != nil {
		return fmt.Sprintf("its status: %v", err)
	}
	if !st.State.Final() {
		return fmt.Sprintf("it reads as %s (%s)", st.State, st.Reason)
	}
	// Clean waits (TreeWait) for what the job started outside its group
	// and for its command's lock, and says what is left.
	if err := b.Clean(ctx, handle); err != nil {
		return err.Error()
	}
	return ""
}

// wrapperPidOf is the pid the job's wrapper recorded (its process
// group's), or 0.
func wrapperPidOf(jobDir string) int {
	data, err := os.ReadFile(filepath.Join(jobDir, "pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid
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
