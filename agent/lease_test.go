package agent

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/seal"
)

// TestMain lets the test binary stand in for Meridian's executable: the
// agent starts its pack helper as `<exe> __agent pack DIR NAME`.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "__peek" {
		os.Exit(peekMain(os.Args[2:]))
	}
	if len(os.Args) > 3 && os.Args[1] == "__linker" {
		// A process of the tenant's user that puts links to
		// os.Args[2] at each of the paths after it, for ever
		// (TestAttackRelaunchedScratchLinkedOut).
		for {
			for _, p := range os.Args[3:] {
				syscall.Symlink(os.Args[2], p)
			}
		}
	}
	if len(os.Args) > 1 && os.Args[1] == "__agent" {
		// A test's stand-in for a system directory where the operator
		// keeps files (TestAttackLandlockWorkloadReadsServerFilesInSystemDirs).
		if dir := os.Getenv("MERIDIAN_TEST_SYSTEM_DIR"); dir != "" {
			systemReadOnly = append(systemReadOnly, dir)
			walkedReadOnly = append(walkedReadOnly, dir)
		}
		if len(os.Args) > 2 && os.Args[2] == "reap" {
			spareInReaper()
		}
		os.Exit(MainAs("__agent", os.Args[2:]))
	}
	os.Exit(m.Run())
}

// server is the controller's side of the agent API as far as these tests
// need it: it hands out one manifest and records what the agent reports.
// checkpoint decides each checkpoint report's answer (nil: 200).
type server struct {
	t        *testing.T
	manifest Manifest
	down     atomic.Bool // every route answers 503
	stop     atomic.Bool // every answer asks the agent to stop the workload
	kill     atomic.Bool // and says its time to stop has passed
	gone     atomic.Bool // every route answers 410: the attempt is over
	// goneAnswers counts the answers of 410.
	goneAnswers atomic.Int64
	// refuse, while set, has every route answer 401, as a proxy in
	// front of the server that does not recognise the credential;
	// refuseNext answers 401 to that many requests more.
	refuse     atomic.Bool
	refuseNext atomic.Int64
	// refusedAnswers counts the answers of 401.
	refusedAnswers atomic.Int64
	// answered is when the server last answered with success, in Unix
	// nanoseconds, stored before the answer leaves: the agent hears it
	// later, so its lease runs from no earlier than this.
	answered   atomic.Int64
	checkpoint func(ref CheckpointRef, n int) int

	mu      sync.Mutex
	reports []CheckpointRef
	exits   []Exit
	beats   int
	logs    []byte // the output kept, as the server keeps it
	posts   []int  // the size of each post of output
}

func (s *server) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if s.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if s.refuse.Load() || s.refuseNext.Add(-1) >= 0 {
		s.refusedAnswers.Add(1)
		http.Error(w, "credential not recognised", http.StatusUnauthorized)
		return
	}
	if s.gone.Load() {
		s.goneAnswers.Add(1)
		http.Error(w, "the attempt has ended", http.StatusGone)
		return
	}
	body, _ := io.ReadAll(req.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	code := http.StatusOK
	defer func() {
		if code == http.StatusOK {
			s.answered.Store(time.Now().UnixNano())
		}
	}()
	switch p := req.URL.Path; {
	case req.Method == http.MethodGet:
		json.NewEncoder(w).Encode(s.manifest)
		return
	case strings.HasSuffix(p, "/checkpoints"):
		var ref CheckpointRef
		if err := json.Unmarshal(body, &ref); err != nil {
			s.t.Errorf("checkpoint report %q: %v", body, err)
		}
		s.reports = append(s.reports, ref)
		if s.checkpoint != nil {
			code = s.checkpoint(ref, len(s.reports))
		}
	case strings.HasSuffix(p, "/exit"):
		var ex Exit
		json.Unmarshal(body, &ex)
		s.exits = append(s.exits, ex)
	case strings.HasSuffix(p, "/heartbeat"):
		s.beats++
	case strings.HasSuffix(p, "/logs"):
		// As the server does: a post of more than it reads is refused,
		// one from an offset it has not reached is a conflict, and what
		// it already has is not kept twice.
		s.posts = append(s.posts, len(body))
		off, err := strconv.ParseInt(req.URL.Query().Get("offset"), 10, 64)
		switch {
		case len(body) > MaxLogPost:
			code = http.StatusRequestEntityTooLarge
		case err != nil || off < 0 || off > int64(len(s.logs)):
			code = http.StatusConflict
		case off+int64(len(body)) > int64(len(s.logs)):
			s.logs = append(s.logs, body[int64(len(s.logs))-off:]...)
		}
	}
	if code != http.StatusOK {
		http.Error(w, "refused", code)
		return
	}
	if s.stop.Load() {
		json.NewEncoder(w).Encode(Reply{Stop: true, Kill: s.kill.Load()})
		return
	}
	w.Write([]byte("{}"))
}

// startAgent runs an agent for a workload of one shell line under a
// server with the given lease and returns the server, the agent's scratch,
// a file counting the pack helper's runs, and a channel with Run's result.
func startAgent(t *testing.T, script string, lease time.Duration, checkpoint func(CheckpointRef, int) int) (*server, string, string, <-chan [2]any) {
	t.Helper()
	return startAgentWith(t, script, "", lease, checkpoint)
}

// startAgentWith is startAgent with prelude, shell lines the pack helper
// runs first (its arguments are __agent pack DIR NAME).
func startAgentWith(t *testing.T, script, prelude string, lease time.Duration, checkpoint func(CheckpointRef, int) int) (*server, string, string, <-chan [2]any) {
	t.Helper()
	return startAgentManifest(t, script, prelude, lease, checkpoint, nil)
}

// startAgentManifest is startAgentWith with tweak, which changes the
// manifest before the agent asks for it.
func startAgentManifest(t *testing.T, script, prelude string, lease time.Duration, checkpoint func(CheckpointRef, int) int, tweak func(*Manifest)) (*server, string, string, <-chan [2]any) {
	t.Helper()
	return startAgentConfig(t, script, prelude, lease, checkpoint, tweak, nil)
}

// startAgentConfig is startAgentManifest with tweakCfg, which changes the
// agent's configuration before it starts.
func startAgentConfig(t *testing.T, script, prelude string, lease time.Duration, checkpoint func(CheckpointRef, int) int, tweak func(*Manifest), tweakCfg func(*Config)) (*server, string, string, <-chan [2]any) {
	t.Helper()
	dir := t.TempDir()
	storeDir := filepath.Join(dir, "store")
	if err := os.Mkdir(storeDir, 0o700); err != nil {
		t.Fatal(err)
	}
	key, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	srv := &server{t: t, checkpoint: checkpoint, manifest: Manifest{Run: "run-1", Attempt: 1, Site: "here", Tenant: "t1",
		Command: []string{"/bin/sh", "-c", script}, Store: "file://" + storeDir, DataPrefix: "t1/data/",
		CheckpointPrefix: "t1/checkpoints/", RunKey: key.String(), CheckpointName: "ckpt-run-1-%d",
		Sandbox: Sandbox{Mode: SandboxNone}, Heartbeat: 50 * time.Millisecond, LogLimit: 1 << 20, Lease: lease}}
	if tweak != nil {
		tweak(&srv.manifest)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	// The helpers are this test binary behind a script that counts the
	// pack helper's runs (the workload's reaper starts by it too).
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	count := filepath.Join(dir, "packs")
	helper := filepath.Join(dir, "helper")
	if err := os.WriteFile(helper, []byte(fmt.Sprintf("#!/bin/sh\nif [ \"$2\" = pack ]; then echo \"$4\" >> %q; fi\n%s\nexec %q \"$@\"\n", count, prelude, exe)), 0o700); err != nil {
		t.Fatal(err)
	}
	wd := filepath.Join(dir, "scratch")
	if err := os.Mkdir(wd, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Server: hs.URL, Run: "run-1", Attempt: 1, Token: "tok", WorkDir: wd, Exe: helper,
		SandboxExec: []string{helper, "__agent"}, Stdout: io.Discard, Stderr: io.Discard, Patience: 5 * time.Second}
	if tweakCfg != nil {
		tweakCfg(&cfg)
	}
	done := make(chan [2]any, 1)
	go func() {
		code, err := Run(context.Background(), cfg)
		done <- [2]any{code, err}
	}()
	return srv, storeDir, count, done
}

// wait returns Run's exit code and error, or fails after 60 s.
func wait(t *testing.T, done <-chan [2]any) (int, error) {
	t.Helper()
	select {
	case r := <-done:
		err, _ := r[1].(error)
		return r[0].(int), err
	case <-time.After(60 * time.Second):
		t.Fatal("the agent has not returned in 60 s")
		return 0, nil
	}
}

// started waits up to 60 s for the workload to write its pid file: its
// whole line, not only the file, which the shell makes before it writes
// it (a test that read the pid at once read 0 under load).
func started(t *testing.T, pidFile string) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if raw, err := os.ReadFile(pidFile); err == nil && bytes.HasSuffix(raw, []byte("\n")) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the workload did not start")
		}
	}
}

// TestAgentStopsWhenTheLeaseLapses: an agent whose server stops answering
// stops the workload once the lease has passed, kills it when it ignores
// SIGTERM, and exits with ExitLease, which the controller reads as a lost
// site. While the server answers, the same lease never fires.
func TestAgentStopsWhenTheLeaseLapses(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	// The workload ignores SIGTERM, so only the kill after the grace ends it.
	script := fmt.Sprintf("trap '' TERM; echo $$$$ > %q; while :; do sleep 0.05; done", pidFile)
	srv, _, _, done := startAgent(t, script, time.Second, nil)
	started(t, pidFile)
	srv.down.Store(true)
	code, err := wait(t, done)
	// Measured from the server's last answer, not from when the test
	// took the server down: an agent a loaded machine left without a
	// core heard its last answer well before that, and its lease rightly
	// runs from then.
	took := time.Since(time.Unix(0, srv.answered.Load()))
	if code != ExitLease || err == nil || !strings.Contains(err.Error(), "lease") {
		t.Fatalf("Run = %d, %v; want %d and an error naming the lease", code, err, ExitLease)
	}
	// The lease (1 s) and the grace (1 s) pass after the last answer
	// before the kill.
	if took < 1900*time.Millisecond {
		t.Errorf("the agent gave up %s after the server last answered; the lease and grace are 2 s from then", took)
	}
	raw, _ := os.ReadFile(pidFile)
	if st, err := os.ReadFile("/proc/" + strings.TrimSpace(string(raw)) + "/stat"); err == nil && !strings.Contains(string(st), ") Z ") {
		t.Errorf("the workload (pid %s) still runs: %s", strings.TrimSpace(string(raw)), st)
	}

	// A workload that ends by itself after the server went: the reports
	// at the end retry only for what is left of the lease, not 30 s each.
	pidFile2 := filepath.Join(t.TempDir(), "pid")
	srv, _, _, done = startAgent(t, fmt.Sprintf("echo $$$$ > %q; sleep 0.3", pidFile2), time.Second, nil)
	started(t, pidFile2)
	srv.down.Store(true)
	cut := time.Now()
	if code, err := wait(t, done); code != 0 || err != nil {
		t.Fatalf("a workload that ended by itself: Run = %d, %v; want 0", code, err)
	}
	// Each report retried alone takes maxFinalRetry (30 s); what is left
	// of the 1 s lease takes about a second. 20 s tells the two apart
	// however long a loaded machine leaves the agent without a core.
	if took := time.Since(cut); took > 20*time.Second {
		t.Errorf("the agent reported for %s after the server went; the lease is 1 s, not maxFinalRetry (%s)", took, maxFinalRetry)
	}

	// The same lease under a server that answers: the workload runs its
	// 2.5 s to the end.
	srv, _, _, done = startAgent(t, "sleep 2.5", time.Second, nil)
	if code, err := wait(t, done); code != 0 || err != nil {
		t.Fatalf("under an answering server Run = %d, %v; want 0", code, err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.exits) != 1 || srv.exits[0].Code != 0 {
		t.Errorf("exit reports %+v; want one of code 0", srv.exits)
	}
}

// TestAgentSealsEachCheckpointOnce: a checkpoint whose report fails is
// reported again, the same sealed copy, backing off, and is not packed
// again; one the server refuses for good is neither packed nor reported
// again, and its sealed copy is removed; the next checkpoint goes through.
func TestAgentSealsEachCheckpointOnce(t *testing.T) {
	// The workload writes each checkpoint when the server's answers say
	// so, whatever the machine's pace: step 20 while step 10's report is
	// still failing, step 30 once step 20 was refused.
	gate := t.TempDir()
	script := fmt.Sprintf(`cd "$MERIDIAN_CHECKPOINT_DIR"
for step in 10 20 30; do
  while [ "$step" != 10 ] && [ ! -e %q/$step ]; do sleep 0.02; done
  head -c 3000000 /dev/urandom > .tmp && mv .tmp step-$step
done
sleep 0.5`, gate)
	open := func(step int) { os.WriteFile(filepath.Join(gate, fmt.Sprint(step)), nil, 0o600) }
	var first atomic.Value
	srv, storeDir, count, done := startAgent(t, script, 0, func(ref CheckpointRef, n int) int {
		switch {
		case ref.Step == 10 && n <= 3:
			if n == 1 {
				first.Store(ref)
				open(20)
			}
			return http.StatusServiceUnavailable // passing: tried again
		case ref.Step == 20:
			open(30)
			return http.StatusBadRequest // for good
		}
		return http.StatusOK
	})
	if code, err := wait(t, done); code != 0 || err != nil {
		t.Fatalf("Run = %d, %v", code, err)
	}
	packs, _ := os.ReadFile(count)
	if got := strings.Fields(string(packs)); strings.Join(got, " ") != "step-10 step-20 step-30" {
		t.Errorf("the pack helper ran for %v; want each checkpoint once", got)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	var steps []int64
	for _, r := range srv.reports {
		steps = append(steps, r.Step)
		if r.Step == 10 && r != first.Load().(CheckpointRef) {
			t.Errorf("step 10 reported as %+v, first as %+v: sealed again", r, first.Load())
		}
	}
	if fmt.Sprint(steps) != "[10 10 10 10 20 30]" {
		t.Errorf("reports of steps %v; want step 10 four times, then 20 and 30 once", steps)
	}
	// The refused checkpoint's sealed copy is gone; the others are kept.
	st, err := dataset.OpenStore(context.Background(), "file://"+storeDir)
	if err != nil {
		t.Fatal(err)
	}
	ck := st.Sub("t1/checkpoints/")
	for step, want := range map[int64]bool{10: true, 20: false, 30: true} {
		name := fmt.Sprintf("ckpt-run-1-%d", step)
		_, err := dataset.ReadObject(context.Background(), ck, dataset.ManifestKey(name), 1<<20)
		if (err == nil) != want {
			t.Errorf("checkpoint %d in the store: %v, want kept %v", step, err, want)
		}
	}
}

// TestAgentReportsTheLastCheckpointAtTheEnd: a workload that ends while an
// older checkpoint's report is still failing gets both reported at the
// end, the older first and then its last one, which is what the run
// resumes from or ends with.
func TestAgentReportsTheLastCheckpointAtTheEnd(t *testing.T) {
	script := `cd "$MERIDIAN_CHECKPOINT_DIR"
head -c 1000 /dev/urandom > .tmp && mv .tmp step-10
sleep 0.6
head -c 1000 /dev/urandom > .tmp && mv .tmp step-20`
	srv, _, count, done := startAgent(t, script, 0, func(ref CheckpointRef, n int) int {
		if ref.Step == 10 && n <= 3 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	if code, err := wait(t, done); code != 0 || err != nil {
		t.Fatalf("Run = %d, %v", code, err)
	}
	packs, _ := os.ReadFile(count)
	if got := strings.Join(strings.Fields(string(packs)), " "); got != "step-10 step-20" {
		t.Errorf("the pack helper ran for %q; want step-10 step-20", got)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if n := len(srv.reports); n < 2 || srv.reports[n-1].Step != 20 || srv.reports[n-2].Step != 10 {
		t.Errorf("reports %+v; want step 10 and then step 20 last", srv.reports)
	}
}

// TestAgentStopsWhileAPackHangs: a pack helper that never finishes (the
// workload, which runs as the helper's user, stopped it with SIGSTOP) does
// not keep the agent from stopping the workload when the server asks, or
// from fencing it when the lease lapses: the workload would otherwise run
// on, cancelled or drained, at a site it must leave. The stopped helper is
// killed, and the attempt still ends with its checkpoint reported.
func TestAgentStopsWhileAPackHangs(t *testing.T) {
	defer func(d time.Duration) { packStall = d }(packStall)
	packStall = 2 * time.Second
	for _, fence := range []bool{false, true} {
		dir := t.TempDir()
		pidFile, marker, helperPid := filepath.Join(dir, "pid"), filepath.Join(dir, "stopped-once"), filepath.Join(dir, "helper-pid")
		// The first pack of step-1 stops itself, as the workload would
		// stop it; a later one (at the attempt's end) goes through.
		prelude := fmt.Sprintf(`if [ "$4" = step-1 ] && [ ! -e %q ]; then touch %q; echo $$ > %q; kill -STOP $$; fi`, marker, marker, helperPid)
		script := fmt.Sprintf(`cd "$MERIDIAN_CHECKPOINT_DIR"
head -c 1000 /dev/urandom > .tmp && mv .tmp step-1
echo $$$$ > %q
while :; do sleep 0.05; done`, pidFile)
		lease := time.Duration(0)
		if fence {
			lease = time.Second
		}
		srv, _, _, done := startAgentWith(t, script, prelude, lease, nil)
		t.Cleanup(func() {
			// On failure nothing may be left running or stopped.
			for _, f := range []string{pidFile, helperPid} {
				if raw, err := os.ReadFile(f); err == nil {
					if pid, err := strconv.Atoi(strings.TrimSpace(string(raw))); err == nil && pid > 0 {
						syscall.Kill(-pid, syscall.SIGKILL)
						syscall.Kill(pid, syscall.SIGKILL)
					}
				}
			}
		})
		started(t, pidFile)
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if _, err := os.Stat(helperPid); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the pack helper did not start")
			}
		}
		if fence {
			srv.down.Store(true)
		} else {
			srv.stop.Store(true)
		}
		select {
		case r := <-done:
			code, _ := r[0].(int)
			if fence && code != ExitLease {
				t.Errorf("fenced: Run = %v; want exit %d", r, ExitLease)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("fence %v: the agent did not end the workload in 15 s while its pack helper hung", fence)
		}
		for _, f := range []string{pidFile, helperPid} {
			raw, _ := os.ReadFile(f)
			if st, err := os.ReadFile("/proc/" + strings.TrimSpace(string(raw)) + "/stat"); err == nil && !strings.Contains(string(st), ") Z ") {
				t.Errorf("fence %v: %s (pid %s) still runs: %s", fence, filepath.Base(f), strings.TrimSpace(string(raw)), st)
			}
		}
	}
}

// TestAgentShipsABurstOfOutput: output that piles up past what one post
// may carry (a burst between two polls, or while the server did not
// answer) reaches the server whole, in posts it takes, while the workload
// runs and at its end. It was sent as one post, which the server refused
// at every poll, so that nothing the workload wrote after the burst
// reached it.
func TestAgentShipsABurstOfOutput(t *testing.T) {
	const burst = 3 << 20
	gate := filepath.Join(t.TempDir(), "gate")
	script := fmt.Sprintf(`head -c %d /dev/zero | tr '\0' x | fold -w 99; echo; echo after-the-burst
while [ ! -e %q ]; do sleep 0.02; done
head -c %d /dev/zero | tr '\0' y | fold -w 99; echo; echo the-end`, burst, gate, burst)
	srv, _, _, done := startAgentManifest(t, script, "", 0, nil, func(m *Manifest) { m.LogLimit = 64 << 20 })
	// While the workload runs: the output after the burst arrives.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		srv.mu.Lock()
		got := strings.Contains(string(srv.logs), "after-the-burst")
		srv.mu.Unlock()
		if got {
			break
		}
		if time.Now().After(deadline) {
			t.Error("15 s after a burst of output, what the workload wrote after it has not reached the server")
			break
		}
	}
	os.WriteFile(gate, nil, 0o600)
	if code, err := wait(t, done); code != 0 || err != nil {
		t.Fatalf("Run = %d, %v", code, err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if x, y := strings.Count(string(srv.logs), "x"), strings.Count(string(srv.logs), "y"); x != burst || y != burst || !strings.HasSuffix(string(srv.logs), "\nthe-end\n") {
		t.Errorf("the server kept %d bytes of output, %d and %d of the bursts' %d, ending %q", len(srv.logs), x, y, burst, srv.logs[max(len(srv.logs)-20, 0):])
	}
	for _, n := range srv.posts {
		if n > MaxLogPost {
			t.Errorf("a post of %d bytes of output; the server reads %d", n, MaxLogPost)
			break
		}
	}
}

// TestAgentRemovesAFailedSeal: what a checkpoint that could not be sealed
// left in the site's store (the chunks sent before the pack helper
// failed: here at a link the workload put in it) is removed once a newer
// checkpoint is sealed instead, and at the attempt's end. Nothing refers to
// it; it stayed for good, so that a workload could fill the site's store by
// writing checkpoints that fail.
func TestAgentRemovesAFailedSeal(t *testing.T) {
	script := `cd "$MERIDIAN_CHECKPOINT_DIR"
mkdir .tmp && head -c 2000000 /dev/urandom > .tmp/a && ln -s /etc/passwd .tmp/b && mv .tmp step-1
sleep 0.6
mkdir .tmp && head -c 1000 /dev/urandom > .tmp/a && mv .tmp step-2
sleep 0.6
mkdir .tmp && head -c 2000000 /dev/urandom > .tmp/a && ln -s /etc/passwd .tmp/b && mv .tmp step-3`
	srv, storeDir, count, done := startAgent(t, script, 0, nil)
	if code, err := wait(t, done); code != 0 || err != nil {
		t.Fatalf("Run = %d, %v", code, err)
	}
	if packs, _ := os.ReadFile(count); !strings.Contains(string(packs), "step-1") || !strings.Contains(string(packs), "step-3") {
		t.Fatalf("the pack helper ran for %q; want the failing checkpoints among them", packs)
	}
	srv.mu.Lock()
	if len(srv.reports) != 1 || srv.reports[0].Step != 2 {
		t.Errorf("reports %+v; want step 2 only", srv.reports)
	}
	srv.mu.Unlock()
	st, err := dataset.OpenStore(context.Background(), "file://"+storeDir)
	if err != nil {
		t.Fatal(err)
	}
	ck := st.Sub("t1/checkpoints/")
	for step, want := range map[int]bool{1: false, 2: true, 3: false} {
		name := fmt.Sprintf("ckpt-run-1-%d", step)
		chunks, err := dataset.ListChunks(context.Background(), ck, name)
		if err != nil {
			t.Fatal(err)
		}
		if (len(chunks) > 0) != want {
			t.Errorf("checkpoint %d has %d chunks in the store; want kept %v", step, len(chunks), want)
		}
	}
}

// TestAgentGivesUpASealAfterTheWorkloadEnds: a checkpoint whose seal never
// ends (here a pack helper that sends a file of a terabyte of zeros, slowly
// but without a stall, as a sparse file or a replaced helper would) does
// not hold the attempt open once the workload has ended: after finalSeal
// the seal is given up, its partial chunks are removed from the site's
// store, and the attempt reports its exit. The agent waited for the seal,
// bounded only by the checkpoint's size.
func TestAgentGivesUpASealAfterTheWorkloadEnds(t *testing.T) {
	defer func(d time.Duration) { finalSeal = d }(finalSeal)
	finalSeal = 2 * time.Second
	dir := t.TempDir()
	var hdr bytes.Buffer
	if err := tar.NewWriter(&hdr).WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "step-1", Mode: 0o600, Size: 1 << 40}); err != nil {
		t.Fatal(err)
	}
	hdrFile, helperPid := filepath.Join(dir, "hdr"), filepath.Join(dir, "helper-pid")
	if err := os.WriteFile(hdrFile, hdr.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	prelude := fmt.Sprintf(`if [ "$2" = pack ]; then echo $$ > %q; cat %q; while :; do head -c 65536 /dev/zero; sleep 0.02; done; fi`, helperPid, hdrFile)
	t.Cleanup(func() {
		if raw, err := os.ReadFile(helperPid); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(raw))); err == nil && pid > 0 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	script := `cd "$MERIDIAN_CHECKPOINT_DIR"
head -c 1000 /dev/urandom > .tmp && mv .tmp step-1
sleep 0.5`
	srv, storeDir, _, done := startAgentWith(t, script, prelude, 0, nil)
	start := time.Now()
	code, err := wait(t, done)
	if code != 0 || err != nil {
		t.Fatalf("Run = %d, %v", code, err)
	}
	// The workload's 0.5 s, finalSeal, and the reports; a seal waited for
	// sends its terabyte at 3 MB/s, for days, and wait gives up at 60 s.
	// The margin of 40 s is for a loaded machine.
	if took := time.Since(start); took > finalSeal+40*time.Second {
		t.Errorf("the attempt ended %s after it started; want within finalSeal (%s) of the workload's end", took, finalSeal)
	}
	srv.mu.Lock()
	if len(srv.reports) != 0 || len(srv.exits) != 1 || srv.exits[0].Code != 0 {
		t.Errorf("reports %+v, exits %+v; want no checkpoint and one exit of code 0", srv.reports, srv.exits)
	}
	if !bytes.Contains(srv.logs, []byte("given up")) {
		t.Errorf("the output kept by the server does not say the seal was given up:\n%s", srv.logs)
	}
	srv.mu.Unlock()
	st, err := dataset.OpenStore(context.Background(), "file://"+storeDir)
	if err != nil {
		t.Fatal(err)
	}
	if chunks, err := dataset.ListChunks(context.Background(), st.Sub("t1/checkpoints/"), "ckpt-run-1-1"); err != nil || len(chunks) > 0 {
		t.Errorf("the seal given up left %d chunks in the store (%v); want none", len(chunks), err)
	}
}

// TestAgentMessagesStayOneLine: the agent's messages name what the workload
// chose, here a checkpoint whose name holds a newline and a line of its
// own that reads as the agent's. The pack helper refuses the name, and
// the agent's message about it wrote the name as it was, so that the
// workload's line reached the run's log from the agent itself. The
// message is one line, its control characters written out.
func TestAgentMessagesStayOneLine(t *testing.T) {
	script := `cd "$MERIDIAN_CHECKPOINT_DIR"
mkdir "$(printf 'step-1\nmeridian agent: checkpoint step-2')"
sleep 0.6`
	srv, _, _, done := startAgent(t, script, 0, nil)
	if code, err := wait(t, done); code != 0 || err != nil {
		t.Fatalf("Run = %d, %v", code, err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if !bytes.Contains(srv.logs, []byte(`meridian agent: checkpoint step-1\x0ameridian agent: checkpoint step-2: `)) {
		t.Errorf("no one-line message about the checkpoint:\n%s", srv.logs)
	}
	for _, line := range strings.Split(string(srv.logs), "\n") {
		if strings.HasPrefix(line, "meridian agent: checkpoint step-2") {
			t.Errorf("the workload's line reads as the agent's: %q", line)
		}
	}
}

// TestAgentListsNoLinkedCheckpointDir: the workload puts a link to another
// directory in place of its checkpoint directory. The agent, which may
// list directories the workload may not (root, or the server's user),
// found the newest "checkpoint" there, and its messages and reports named
// it. Now it lists no directory but the workload's own.
func TestAgentListsNoLinkedCheckpointDir(t *testing.T) {
	other := t.TempDir()
	if err := os.Mkdir(filepath.Join(other, "secret-step-5"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, "secret-step-5", "data"), []byte("not the workload's"), 0o600); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`rmdir "$MERIDIAN_CHECKPOINT_DIR" && ln -s %q "$MERIDIAN_CHECKPOINT_DIR"
sleep 0.6`, other)
	srv, _, count, done := startAgent(t, script, 0, nil)
	if code, err := wait(t, done); code != 0 || err != nil {
		t.Fatalf("Run = %d, %v", code, err)
	}
	if packs, _ := os.ReadFile(count); len(packs) > 0 {
		t.Errorf("the pack helper ran for %q", packs)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.reports) > 0 || bytes.Contains(srv.logs, []byte("secret-step")) {
		t.Errorf("reports %+v; the log:\n%s", srv.reports, srv.logs)
	}
}
