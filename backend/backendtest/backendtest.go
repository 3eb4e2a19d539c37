// Package backendtest is the conformance suite that every backend passes:
// submit to success or failure with the exit code, cancel, logs, idempotent
// and concurrent submits, finding a job after a controller restart and, for
// backends that can simulate it, the loss of the site.
package backendtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
)

// Factory makes a backend keeping its state in stateDir. Called twice with
// the same stateDir, it models a controller restart.
type Factory func(t *testing.T, stateDir string) backend.Backend

// Timeout bounds every wait in the suite.
var Timeout = 60 * time.Second

// Options are the test harness's hooks for what some backends cannot do
// themselves. Each may be nil.
type Options struct {
	// WorkDir returns a new, empty working directory for one job, one the
	// scheduler's jobs can write (t.TempDir() when nil).
	WorkDir func(t *testing.T) string
	// Output reads a job's output for a backend whose Logs fails with
	// backend.ErrLogsUnavailable (its output reaches the server another
	// way). The harness may read the test cluster's files; the backend may
	// not.
	Output func(t *testing.T, spec backend.Spec, handle string) (string, error)
	// SiteFailer fails and restores the site of b, for a backend that is
	// not a backend.SiteFailer itself.
	SiteFailer func(t *testing.T, b backend.Backend) backend.SiteFailer
	// CountDir returns the directory in which the jobs of one run count
	// their executions, for a backend whose working directory starts empty
	// for every job and goes with it (a Kubernetes emptyDir): the count
	// must outlive the attempt to show a second execution. Nil: the count
	// is kept in the working directory.
	CountDir func(t *testing.T, runID string) string
}

// Run runs the conformance suite against the backends that factory makes.
func Run(t *testing.T, factory Factory) { RunWith(t, factory, Options{}) }

// RunWith runs the conformance suite with the harness's hooks.
func RunWith(t *testing.T, factory Factory, opts Options) {
	nonce := newNonce(t)
	s := &suite{factory: factory, nonce: nonce, opts: opts, specs: map[string]backend.Spec{}}
	t.Run("SucceedsWithOutputAndEnv", s.succeeds)
	t.Run("FailsWithExitCode", s.fails)
	t.Run("CommandNotFoundFails", s.notFound)
	t.Run("Cancel", s.cancel)
	t.Run("CancelFinishedIsNoop", s.cancelFinished)
	t.Run("IdempotentSubmit", s.idempotent)
	t.Run("FindAfterRestart", s.findAfterRestart)
	t.Run("ConcurrentSubmits", s.concurrent)
	t.Run("UnknownHandle", s.unknown)
	t.Run("BadSpec", s.badSpec)
	t.Run("SiteLoss", s.siteLoss)
	t.Run("LogsAtOffset", s.logsAt)
}

// logsAt: a backend that opens a job's output at an offset
// (backend.OffsetLogger) gives the output Logs gives from that offset on,
// byte for byte, nothing past its end, its size where it tells it, and the
// same identity for the same output opened twice.
func (s *suite) logsAt(t *testing.T) {
	b := s.factory(t, t.TempDir())
	ol, ok := b.(backend.OffsetLogger)
	if !ok {
		t.Skip("the backend opens no output at an offset")
	}
	h, err := b.Submit(ctx(t), s.spec(t, "logsat", "i=0; while [ $i -lt 200 ]; do echo line-$i-of-the-output; i=$((i+1)); done"))
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, b, h, backend.Succeeded)
	s.waitOutput(t, b, h, "line-199-of-the-output\n")
	whole := s.logs(t, b, h)
	var first backend.LogInfo
	for i, off := range []int{0, 1, len(whole) / 2, len(whole) - 1, len(whole), len(whole) + 100} {
		rc, info, err := ol.LogsAt(ctx(t), h, int64(off))
		if err != nil {
			t.Fatalf("LogsAt(%d): %v", off, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if want := whole[min(off, len(whole)):]; err != nil || string(got) != want {
			t.Errorf("LogsAt(%d): %d bytes (%v), want the %d of Logs from there", off, len(got), err, len(want))
		}
		if info.Size >= 0 && info.Size != int64(len(whole)) {
			t.Errorf("LogsAt(%d): size %d, want %d", off, info.Size, len(whole))
		}
		if i == 0 {
			first = info
		} else if info.ID != first.ID || first.Replaced(info) {
			t.Errorf("LogsAt(%d): output %q (head %q), the first opening's %q (head %q): the same output reads as replaced", off, info.ID, info.Head, first.ID, first.Head)
		}
	}
	if _, _, err := ol.LogsAt(ctx(t), h, -1); err == nil {
		t.Error("LogsAt(-1) opened the output")
	}
}

type suite struct {
	factory Factory
	nonce   string
	opts    Options

	mu    sync.Mutex
	specs map[string]backend.Spec // by handle, for Options.Output
}

func newNonce(t *testing.T) string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// runID makes run ids unique per suite run, since a real scheduler keeps
// jobs of earlier test runs.
func (s *suite) runID(name string) string { return "ct-" + s.nonce + "-" + name }

func (s *suite) spec(t *testing.T, name, script string) backend.Spec {
	sp := s.baseSpec(t, name, script)
	if s.opts.CountDir != nil {
		sp.Env = map[string]string{"COUNT_DIR": s.opts.CountDir(t, sp.RunID)}
	}
	return sp
}

func (s *suite) baseSpec(t *testing.T, name, script string) backend.Spec {
	return backend.Spec{
		RunID:        s.runID(name),
		Attempt:      1,
		Command:      []string{"/bin/sh", "-c", script},
		WorkDir:      s.workDir(t),
		Accelerators: 1,
	}
}

func (s *suite) workDir(t *testing.T) string {
	if s.opts.WorkDir != nil {
		return s.opts.WorkDir(t)
	}
	return t.TempDir()
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), Timeout)
	t.Cleanup(cancel)
	return c
}

// Wait polls the job's status until pred holds, failing the test after
// Timeout. It returns the last status.
func Wait(t *testing.T, b backend.Backend, handle string, what string, pred func(backend.Status) bool) backend.Status {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	var last backend.Status
	var lastErr error
	for time.Now().Before(deadline) {
		st, err := b.Status(context.Background(), handle)
		if err == nil && pred(st) {
			return st
		}
		last, lastErr = st, err
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
	t.Fatalf("job %s: not %s after %v; last status %+v, err %v", handle, what, Timeout, last, lastErr)
	return last
}

// WaitFinal waits until the job reaches a final state and returns it.
func WaitFinal(t *testing.T, b backend.Backend, handle string) backend.Status {
	t.Helper()
	return Wait(t, b, handle, "finished", func(s backend.Status) bool { return s.State.Final() })
}

func waitState(t *testing.T, b backend.Backend, handle string, want backend.State) backend.Status {
	t.Helper()
	return Wait(t, b, handle, string(want), func(s backend.Status) bool { return s.State == want })
}

// waitOutput waits until the job's logs contain want.
func (s *suite) waitOutput(t *testing.T, b backend.Backend, handle, want string) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	got := ""
	for time.Now().Before(deadline) {
		got = s.logs(t, b, handle)
		if strings.Contains(got, want) {
			return
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	t.Fatalf("job %s: logs do not contain %q after %v; got %q", handle, want, Timeout, got)
}

// logs returns the job's output: from Logs, or, where the backend cannot
// serve it, from the harness's Output hook.
func (s *suite) logs(t *testing.T, b backend.Backend, handle string) string {
	t.Helper()
	rc, err := b.Logs(ctx(t), handle)
	if errors.Is(err, backend.ErrLogsUnavailable) {
		if s.opts.Output == nil {
			t.Fatalf("Logs(%s): %v; the harness gives no Options.Output to read the job's output otherwise", handle, err)
		}
		s.mu.Lock()
		spec, ok := s.specs[handle]
		s.mu.Unlock()
		if !ok {
			t.Fatalf("Logs(%s): %v, and the suite submitted no job with that handle", handle, err)
		}
		out, err := s.opts.Output(t, spec, handle)
		if err != nil {
			t.Fatalf("read output of %s through the harness: %v", handle, err)
		}
		return out
	}
	if err != nil {
		t.Fatalf("Logs(%s): %v", handle, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read logs of %s: %v", handle, err)
	}
	return string(data)
}

func (s *suite) submit(t *testing.T, b backend.Backend, spec backend.Spec) string {
	t.Helper()
	h, err := b.Submit(ctx(t), spec)
	if err != nil {
		t.Fatalf("Submit(%s): %v", spec.Key(), err)
	}
	if h == "" {
		t.Fatalf("Submit(%s) returned an empty handle", spec.Key())
	}
	s.remember(h, spec)
	return h
}

func (s *suite) remember(handle string, spec backend.Spec) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.specs[handle]; !dup {
		s.specs[handle] = spec
	}
}

func (s *suite) succeeds(t *testing.T) {
	b := s.factory(t, t.TempDir())
	// The controller's own environment (keys, tokens) must not reach the job.
	t.Setenv("MERIDIAN_CONTROLLER_SECRET", "hunter2")
	spec := s.spec(t, "ok", `echo "hello from $MERIDIAN_RUN_ID attempt $MERIDIAN_ATTEMPT"; echo "value=$TEST_VALUE"; echo "secret=[$MERIDIAN_CONTROLLER_SECRET]"; echo "credential=$TEST_CREDENTIAL"; echo on-stderr >&2; pwd`)
	spec.Env = map[string]string{"TEST_VALUE": `a b'c"$d`}
	// Spec.Secret reaches the job's environment, however the backend
	// keeps it apart.
	spec.Secret = map[string]string{"TEST_CREDENTIAL": `tok'en "$x`}
	h := s.submit(t, b, spec)
	st := WaitFinal(t, b, h)
	if st.State != backend.Succeeded || st.ExitCode != 0 {
		t.Fatalf("status = %+v, want succeeded with exit code 0; logs:\n%s", st, s.logs(t, b, h))
	}
	out := s.logs(t, b, h)
	for _, want := range []string{
		"hello from " + spec.RunID + " attempt 1",
		`value=a b'c"$d`,
		"secret=[]",
		`credential=tok'en "$x`,
		"on-stderr",
		spec.WorkDir,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q; got:\n%s", want, out)
		}
	}
}

func (s *suite) fails(t *testing.T) {
	b := s.factory(t, t.TempDir())
	for _, code := range []int{3, 42} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			h := s.submit(t, b, s.spec(t, fmt.Sprintf("exit%d", code), fmt.Sprintf("echo failing; exit %d", code)))
			st := WaitFinal(t, b, h)
			if st.State != backend.Failed || st.ExitCode != code {
				t.Fatalf("status = %+v, want failed with exit code %d", st, code)
			}
		})
	}
}

func (s *suite) notFound(t *testing.T) {
	b := s.factory(t, t.TempDir())
	spec := s.spec(t, "nocmd", "")
	spec.Command = []string{"/nonexistent/meridian-no-such-program"}
	h := s.submit(t, b, spec)
	st := WaitFinal(t, b, h)
	if st.State != backend.Failed || st.ExitCode == 0 {
		t.Fatalf("status = %+v, want failed with a non-zero exit code", st)
	}
}

func (s *suite) cancel(t *testing.T) {
	b := s.factory(t, t.TempDir())
	h := s.submit(t, b, s.spec(t, "cancel", "echo started; exec sleep 300"))
	waitState(t, b, h, backend.Running)
	s.waitOutput(t, b, h, "started")
	if err := b.Cancel(ctx(t), h); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	st := WaitFinal(t, b, h)
	if st.State != backend.Cancelled {
		t.Fatalf("status after cancel = %+v, want cancelled", st)
	}
	if err := b.Cancel(ctx(t), h); err != nil {
		t.Fatalf("second Cancel: %v", err)
	}
	if st := WaitFinal(t, b, h); st.State != backend.Cancelled {
		t.Fatalf("status after second cancel = %+v, want cancelled", st)
	}
}

func (s *suite) cancelFinished(t *testing.T) {
	b := s.factory(t, t.TempDir())
	h := s.submit(t, b, s.spec(t, "cancel-done", "true"))
	if st := WaitFinal(t, b, h); st.State != backend.Succeeded {
		t.Fatalf("status = %+v, want succeeded", st)
	}
	if err := b.Cancel(ctx(t), h); err != nil {
		t.Fatalf("Cancel of finished job: %v", err)
	}
	if st, err := b.Status(ctx(t), h); err != nil || st.State != backend.Succeeded {
		t.Fatalf("status after cancelling a finished job = %+v, %v; want succeeded", st, err)
	}
}

// countScript appends one line per execution to runs.txt in the job's
// working directory and prints how many executions that directory has seen.
// The suite reads the count from the job's logs, as it would from a remote
// site, so a second execution of the same attempt shows twice there and any
// extra execution in the same directory shows in the total.
const countScript = `c="${COUNT_DIR:-.}/runs.txt"; echo run >>"$c"; echo "counted $(wc -l <"$c" | tr -d ' ')"`

// countRuns returns how many times the job printed its count line and the
// count of executions its working directory had seen at the last one.
func (s *suite) countRuns(t *testing.T, b backend.Backend, handle string) (lines, total int) {
	t.Helper()
	for _, line := range strings.Split(s.logs(t, b, handle), "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "counted ")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(rest)
		if err != nil {
			t.Fatalf("job %s printed %q, not a count", handle, line)
		}
		lines, total = lines+1, n
	}
	return lines, total
}

// wantRuns fails unless the job ran once and its working directory had seen
// total executions by then.
func (s *suite) wantRuns(t *testing.T, b backend.Backend, handle string, total int) {
	t.Helper()
	if lines, got := s.countRuns(t, b, handle); lines != 1 || got != total {
		t.Fatalf("job %s: printed its count %d times (want once), its work dir had seen %d executions (want %d); logs:\n%s",
			handle, lines, got, total, s.logs(t, b, handle))
	}
}

func (s *suite) idempotent(t *testing.T) {
	b := s.factory(t, t.TempDir())
	spec := s.spec(t, "idem", countScript)
	h1 := s.submit(t, b, spec)
	h2 := s.submit(t, b, spec)
	if h1 != h2 {
		t.Fatalf("second Submit of the same attempt returned %q, first %q", h2, h1)
	}
	if st := WaitFinal(t, b, h1); st.State != backend.Succeeded {
		t.Fatalf("status = %+v, want succeeded", st)
	}
	if h3 := s.submit(t, b, spec); h3 != h1 {
		t.Fatalf("Submit after the job finished returned %q, want %q", h3, h1)
	}
	s.wantRuns(t, b, h1, 1)
	// A new attempt of the same run is a new job.
	next := spec
	next.Attempt = 2
	h4 := s.submit(t, b, next)
	if h4 == h1 {
		t.Fatalf("attempt 2 got the handle of attempt 1 (%q)", h1)
	}
	if st := WaitFinal(t, b, h4); st.State != backend.Succeeded {
		t.Fatalf("attempt 2 status = %+v, want succeeded", st)
	}
	s.wantRuns(t, b, h4, 2)
	s.wantRuns(t, b, h1, 1)
}

func finder(t *testing.T, b backend.Backend) backend.Finder {
	t.Helper()
	f, ok := b.(backend.Finder)
	if !ok {
		t.Fatalf("%T does not implement backend.Finder", b)
	}
	return f
}

func (s *suite) findAfterRestart(t *testing.T) {
	state := t.TempDir()
	first := s.factory(t, state)
	spec := s.spec(t, "restart", "echo started; exec sleep 300")
	h := s.submit(t, first, spec)
	waitState(t, first, h, backend.Running)

	// A new instance on the same state, as after a controller restart.
	second := s.factory(t, state)
	got, ok, err := finder(t, second).Find(ctx(t), spec.RunID, spec.Attempt)
	if err != nil || !ok || got != h {
		t.Fatalf("Find after restart = %q, %v, %v; want %q, true, nil", got, ok, err, h)
	}
	if _, ok, err := finder(t, second).Find(ctx(t), spec.RunID, spec.Attempt+1); err != nil || ok {
		t.Fatalf("Find of an attempt never submitted = ok %v, err %v; want false, nil", ok, err)
	}
	if st, err := second.Status(ctx(t), h); err != nil || st.State != backend.Running {
		t.Fatalf("Status after restart = %+v, %v; want running", st, err)
	}
	if again := s.submit(t, second, spec); again != h {
		t.Fatalf("Submit after restart returned %q, want the existing %q", again, h)
	}
	s.waitOutput(t, second, h, "started")
	if err := second.Cancel(ctx(t), h); err != nil {
		t.Fatalf("Cancel after restart: %v", err)
	}
	if st := WaitFinal(t, first, h); st.State != backend.Cancelled {
		t.Fatalf("status seen by the first instance = %+v, want cancelled", st)
	}
}

func (s *suite) concurrent(t *testing.T) {
	state := t.TempDir()
	instances := []backend.Backend{s.factory(t, state), s.factory(t, state)}
	const runs, copies = 4, 4
	specs := make([]backend.Spec, runs)
	for i := range specs {
		specs[i] = s.spec(t, fmt.Sprintf("conc%d", i), countScript)
	}
	handles := make([][]string, runs)
	for i := range handles {
		handles[i] = make([]string, copies)
	}
	var wg sync.WaitGroup
	errs := make(chan error, runs*copies)
	for i := range runs {
		for c := range copies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				h, err := instances[c%2].Submit(context.Background(), specs[i])
				if err != nil {
					errs <- fmt.Errorf("submit %s copy %d: %w", specs[i].Key(), c, err)
				} else {
					s.remember(h, specs[i])
				}
				handles[i][c] = h
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for i := range runs {
		for c := range copies {
			if handles[i][c] != handles[i][0] {
				t.Fatalf("run %d: concurrent submits returned %q and %q", i, handles[i][0], handles[i][c])
			}
		}
		if j, dup := seen[handles[i][0]]; dup {
			t.Fatalf("runs %d and %d share handle %q", j, i, handles[i][0])
		}
		seen[handles[i][0]] = i
	}
	for i := range runs {
		if st := WaitFinal(t, instances[0], handles[i][0]); st.State != backend.Succeeded {
			t.Fatalf("run %d status = %+v, want succeeded", i, st)
		}
		s.wantRuns(t, instances[0], handles[i][0], 1)
	}
}

func (s *suite) unknown(t *testing.T) {
	b := s.factory(t, t.TempDir())
	for _, h := range []string{"no-such-job-0", "999999999", "../../etc", ""} {
		if _, err := b.Status(ctx(t), h); !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("Status(%q) error = %v, want ErrNotFound", h, err)
		}
		if _, err := b.Logs(ctx(t), h); !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("Logs(%q) error = %v, want ErrNotFound", h, err)
		}
		if err := b.Cancel(ctx(t), h); !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("Cancel(%q) error = %v, want ErrNotFound", h, err)
		}
	}
}

func (s *suite) badSpec(t *testing.T) {
	b := s.factory(t, t.TempDir())
	good := s.spec(t, "bad", "true")
	tests := []struct {
		name string
		edit func(*backend.Spec)
		want string
	}{
		{"empty run id", func(sp *backend.Spec) { sp.RunID = "" }, "runID"},
		{"run id with slash", func(sp *backend.Spec) { sp.RunID = "a/b" }, "runID"},
		{"no command", func(sp *backend.Spec) { sp.Command = nil }, "command"},
		{"negative attempt", func(sp *backend.Spec) { sp.Attempt = -1 }, "attempt"},
		{"negative accelerators", func(sp *backend.Spec) { sp.Accelerators = -2 }, "accelerators"},
		{"bad env name", func(sp *backend.Spec) { sp.Env = map[string]string{"A=B": "x"} }, "env"},
		{"bad secret name", func(sp *backend.Spec) { sp.Secret = map[string]string{"1X": "x"} }, "secret"},
		{"secret also in env", func(sp *backend.Spec) {
			sp.Env, sp.Secret = map[string]string{"TOKEN": "a"}, map[string]string{"TOKEN": "b"}
		}, `secret: "TOKEN" is in env as well`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp := good
			tt.edit(&sp)
			_, err := b.Submit(ctx(t), sp)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Submit error = %v, want one naming %q", err, tt.want)
			}
		})
	}
	if _, ok, err := finder(t, b).Find(ctx(t), good.RunID, good.Attempt); err != nil || ok {
		t.Fatalf("after rejected submits Find = ok %v, err %v; want nothing submitted", ok, err)
	}
}

func (s *suite) siteLoss(t *testing.T) {
	b := s.factory(t, t.TempDir())
	sf, ok := b.(backend.SiteFailer)
	if !ok && s.opts.SiteFailer != nil {
		sf, ok = s.opts.SiteFailer(t, b), true
	}
	if !ok {
		t.Skipf("%T cannot simulate site loss and the harness gives no Options.SiteFailer", b)
	}
	lost := s.spec(t, "loss", "echo started; exec sleep 300")
	h := s.submit(t, b, lost)
	waitState(t, b, h, backend.Running)
	restored := false
	t.Cleanup(func() {
		if !restored {
			sf.RestoreSite(context.Background())
		}
	})
	if err := sf.FailSite(ctx(t)); err != nil {
		t.Fatalf("FailSite: %v", err)
	}
	st := WaitFinal(t, b, h)
	if st.State != backend.Lost {
		t.Fatalf("status after site loss = %+v, want lost", st)
	}
	if _, err := b.Submit(ctx(t), s.spec(t, "loss-new", "true")); !errors.Is(err, backend.ErrSiteDown) {
		t.Fatalf("Submit to a failed site: error %v, want ErrSiteDown", err)
	}
	// Submitting the lost attempt again stays idempotent: same handle.
	if again, err := b.Submit(ctx(t), lost); err != nil || again != h {
		t.Fatalf("re-Submit of the lost attempt = %q, %v; want %q", again, err, h)
	}
	if err := sf.RestoreSite(ctx(t)); err != nil {
		t.Fatalf("RestoreSite: %v", err)
	}
	restored = true
	h2 := s.submit(t, b, s.spec(t, "after-restore", "echo back"))
	if st := WaitFinal(t, b, h2); st.State != backend.Succeeded {
		t.Fatalf("job after restore: %+v, want succeeded", st)
	}
	if st, err := b.Status(ctx(t), h); err != nil || st.State != backend.Lost {
		t.Fatalf("job killed by the loss after restore = %+v, %v; want still lost", st, err)
	}
}
