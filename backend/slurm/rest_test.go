package slurm_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/backendtest"
	"meridian.dev/meridian/backend/slurm"
	"meridian.dev/meridian/catalog"
)

// restCluster returns the settings of the test cluster's slurmrestd (the
// unix socket scripts/slurm-up.sh starts, rest_auth/local) and of the same
// partition through Slurm's commands, which the harness uses to fail the
// site. It fails (not skips) when MERIDIAN_TEST_SLURM=1 and slurmrestd is
// missing.
func restCluster(t *testing.T) (rest, cli catalog.BackendSpec) {
	t.Helper()
	cli = cluster(t)
	sock := os.Getenv("MERIDIAN_SLURMREST_SOCKET")
	if sock == "" || os.Getenv("MERIDIAN_SLURMREST_WORK") == "" {
		t.Fatal("MERIDIAN_TEST_SLURM=1 but MERIDIAN_SLURMREST_SOCKET or MERIDIAN_SLURMREST_WORK is unset (run scripts/slurm-up.sh and source its env.sh)")
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("MERIDIAN_SLURMREST_SOCKET=%s is not a socket (%v); run scripts/slurm-up.sh", sock, err)
	}
	rest = catalog.BackendSpec{Type: "slurm", RestURL: "unix://" + sock, Partition: cli.Partition, Gres: "gpu:" + cli.GresType}
	return rest, cli
}

// restWorkDir makes a job directory that the jobs slurmrestd starts (as
// the slurm user) can write, under the directory slurm-up.sh made for them;
// the job makes it, and writes its output beside it (slurm.OutputPath).
func restWorkDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp(os.Getenv("MERIDIAN_SLURMREST_WORK"), "t-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	if err := os.Chmod(d, 0o777); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(d, "job")
}

// restOutput reads a job's output file on the (local) test cluster: the
// harness may, the backend may not.
func restOutput(_ *testing.T, spec backend.Spec, _ string) (string, error) {
	data, err := os.ReadFile(slurm.OutputPath(spec.WorkDir, spec.RunID, spec.Attempt))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	return string(data), err
}

func newREST(t testing.TB, site catalog.BackendSpec, dir string, opts ...slurm.RESTOption) *slurm.REST {
	t.Helper()
	b, err := slurm.NewREST(site, dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRESTConformance(t *testing.T) {
	site, cli := restCluster(t)
	backendtest.RunWith(t, func(t *testing.T, stateDir string) backend.Backend {
		return newREST(t, site, stateDir)
	}, backendtest.Options{
		WorkDir: restWorkDir,
		Output:  restOutput,
		SiteFailer: func(t *testing.T, _ backend.Backend) backend.SiteFailer {
			return newSlurm(t, cli, t.TempDir())
		},
	})
}

// TestRESTThroughFor: the "slurm" backend type picks slurmrestd when the
// site has a restURL, and that backend reads no file of the cluster: Logs
// refuses (cleaning is a job the cluster runs: TestRESTCleanSweeps).
func TestRESTThroughFor(t *testing.T) {
	site, _ := restCluster(t)
	b, err := backend.For(site, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := b.(*slurm.REST); !ok {
		t.Fatalf("backend.For with a restURL made a %T, want *slurm.REST", b)
	}
	if err := b.(backend.Checker).Check(testCtx(t)); err != nil {
		t.Fatalf("Check of the test cluster's settings: %v", err)
	}
	spec := backend.Spec{RunID: uniqueRunID(t, "rest-for"), Attempt: 1, Command: []string{"true"}, WorkDir: restWorkDir(t)}
	h, err := b.Submit(testCtx(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	if st := backendtest.WaitFinal(t, b, h); st.State != backend.Succeeded {
		t.Fatalf("status %+v, want succeeded", st)
	}
	if _, err := b.Logs(testCtx(t), h); !errors.Is(err, backend.ErrLogsUnavailable) {
		t.Fatalf("Logs through slurmrestd = %v, want ErrLogsUnavailable", err)
	}
}

// TestRESTCleanSweeps: an attempt killed by a signal (its agent could not
// wipe its scratch) gets one sweep job, on its partition, running the
// attempt's agent command with "sweep" and the directory its scratch is
// in; one that succeeded gets none; one still running when the controller
// ends it gets one that waits for its job to end.
func TestRESTCleanSweeps(t *testing.T) {
	site, _ := restCluster(t)
	b := newREST(t, site, t.TempDir())
	wd := restWorkDir(t)
	root := filepath.Dir(wd)
	agent := filepath.Join(root, "agent.sh")
	// The stand-in agent, configured by its environment as the agent is:
	// "sweep DIR" notes the sweep; otherwise it dies as an agent killed
	// with its node would, or runs until told to end.
	script := `#!/bin/sh
if [ "$1" = sweep ]; then for a; do last=$a; done; echo "sweep $last on $SLURM_JOB_PARTITION" >>"$last/sweeps.log"; exit 0; fi
case "$MODE" in
die) kill -9 $$ ;;
wait) while [ ! -e "$RELEASE" ]; do sleep 0.1; done ;;
esac
`
	if err := os.WriteFile(agent, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	submit := func(name string, env map[string]string) (backend.Spec, string) {
		spec := backend.Spec{RunID: uniqueRunID(t, name), Attempt: 1, Command: []string{agent}, Env: env, WorkDir: wd}
		h, err := b.Submit(testCtx(t), spec)
		if err != nil {
			t.Fatal(err)
		}
		return spec, h
	}
	sweeps := func() []string {
		data, _ := os.ReadFile(filepath.Join(root, "sweeps.log"))
		return strings.Fields(strings.TrimSpace(string(data)))
	}
	cl := any(b).(backend.Cleaner)

	release := filepath.Join(root, "release")
	_, running := submit("clean-running", map[string]string{"MODE": "wait", "RELEASE": release})
	backendtest.Wait(t, b, running, "running", func(s backend.Status) bool { return s.State == backend.Running })
	if err := cl.Clean(testCtx(t), running); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // a sweep that did not wait for the job would show by now
	if got := sweeps(); len(got) != 0 {
		t.Fatalf("a sweep ran while the attempt's job still ran: %q", got)
	}
	os.WriteFile(release, nil, 0o644)
	if st := backendtest.WaitFinal(t, b, running); st.State != backend.Succeeded {
		t.Fatalf("waiting job: %+v", st)
	}
	if err := cl.Clean(testCtx(t), running); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for len(sweeps()) == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond) // polling interval
	}
	want := []string{"sweep", root, "on", site.Partition}
	if got := sweeps(); !slices.Equal(got, want) {
		t.Fatalf("sweeps after the running attempt ended: %q, want %q", got, want)
	}

	_, died := submit("clean-died", map[string]string{"MODE": "die"})
	if st := backendtest.WaitFinal(t, b, died); st.State != backend.Failed || st.ExitCode < 128 {
		t.Fatalf("killed job: %+v, want failed by a signal", st)
	}
	for range 2 { // one sweep, however often the controller asks
		if err := cl.Clean(testCtx(t), died); err != nil {
			t.Fatal(err)
		}
	}
	deadline = time.Now().Add(60 * time.Second)
	for len(sweeps()) == len(want) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond) // polling interval
	}
	time.Sleep(2 * time.Second) // a third sweep, had one been queued, would show by now
	want = append(want, want...)
	if got := sweeps(); !slices.Equal(got, want) {
		t.Fatalf("sweeps: %q, want exactly %q (one for the running attempt, one for the killed one)", got, want)
	}
}

// TestRESTGRES: the job gets as many GPUs of the site's GRES as asked for,
// and a GRES the partition lacks is refused, by Check and by Submit, with
// the setting named.
func TestRESTGRES(t *testing.T) {
	site, _ := restCluster(t)
	b := newREST(t, site, t.TempDir())
	spec := backend.Spec{RunID: uniqueRunID(t, "rest-gres"), Attempt: 1, Accelerators: 3,
		Command: []string{"/bin/sh", "-c", `echo "gpus=$CUDA_VISIBLE_DEVICES"`}, WorkDir: restWorkDir(t)}
	h, err := b.Submit(testCtx(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	if st := backendtest.WaitFinal(t, b, h); st.State != backend.Succeeded {
		t.Fatalf("status %+v, want succeeded", st)
	}
	out, _ := restOutput(t, spec, h)
	_, gpus, ok := strings.Cut(strings.TrimSpace(out), "gpus=")
	if !ok || len(strings.Split(gpus, ",")) != 3 {
		t.Fatalf("job saw CUDA_VISIBLE_DEVICES %q, want 3 devices (output %q)", gpus, out)
	}

	bad := site
	bad.Gres = "gpu:no-such-gpu"
	nb := newREST(t, bad, t.TempDir())
	if err := nb.Check(testCtx(t)); err == nil || !strings.Contains(err.Error(), "backend.gres") {
		t.Fatalf("Check with a GRES the partition lacks = %v, want an error naming backend.gres", err)
	}
	badSpec := spec
	badSpec.RunID = uniqueRunID(t, "rest-gres-bad")
	if _, err := nb.Submit(testCtx(t), badSpec); err == nil || !strings.Contains(err.Error(), "Requested node configuration is not available") || !strings.Contains(err.Error(), "backend.gres") {
		t.Fatalf("Submit with a GRES the site lacks: %v, want Slurm's refusal naming backend.gres", err)
	}
}

// TestRESTBadSettings: each setting that cannot work gets an error naming
// it, from Check and from Submit, without a job being submitted.
func TestRESTBadSettings(t *testing.T) {
	site, _ := restCluster(t)
	spec := func() backend.Spec {
		return backend.Spec{RunID: uniqueRunID(t, "rest-bad"), Attempt: 1, Command: []string{"true"}, WorkDir: "/nonexistent/never-used"}
	}

	noSock := site
	noSock.RestURL = "unix://" + filepath.Join(t.TempDir(), "no-such.sock")
	b := newREST(t, noSock, t.TempDir())
	b.SetLimits(2*time.Second, 1)
	for name, err := range map[string]error{
		"Check":  b.Check(testCtx(t)),
		"Submit": second(b.Submit(testCtx(t), spec())),
	} {
		if err == nil || !strings.Contains(err.Error(), "backend.restURL "+noSock.RestURL) || !strings.Contains(err.Error(), "no such file") {
			t.Errorf("%s against a missing socket = %v, want an error naming backend.restURL and the missing file", name, err)
		}
	}
	if _, err := b.Status(testCtx(t), "12"); err == nil || errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Status against a missing socket = %v, want a non-NotFound error", err)
	}

	noPart := site
	noPart.Partition = "no-such-partition"
	nb := newREST(t, noPart, t.TempDir())
	for name, err := range map[string]error{
		"Check":  nb.Check(testCtx(t)),
		"Submit": second(nb.Submit(testCtx(t), spec())),
	} {
		if err == nil || !strings.Contains(err.Error(), `backend.partition`) || !strings.Contains(err.Error(), `"no-such-partition"`) {
			t.Errorf("%s with an unknown partition = %v, want an error naming backend.partition and the value", name, err)
		}
	}

	// Relative work directories need the site's backend.workDir.
	if _, err := newREST(t, site, t.TempDir()).Submit(testCtx(t), backend.Spec{RunID: uniqueRunID(t, "rest-rel"), Attempt: 1, Command: []string{"true"}}); err == nil || !strings.Contains(err.Error(), "backend.workDir") {
		t.Errorf("Submit without an absolute work directory = %v, want an error naming backend.workDir", err)
	}
}

func second[T any](_ T, err error) error { return err }

// TestRESTFindsJobByNameWithoutState: a controller that lost its records
// (a fresh state directory) finds the job by its name in slurmrestd's job
// list, and a submit interrupted after telling slurmrestd does not submit
// again.
func TestRESTFindsJobByNameWithoutState(t *testing.T) {
	site, _ := restCluster(t)
	spec := backend.Spec{RunID: uniqueRunID(t, "rest-byname"), Attempt: 2,
		Command: []string{"/bin/sh", "-c", "exec sleep 300"}, WorkDir: restWorkDir(t)}
	first := newREST(t, site, t.TempDir())
	h, err := first.Submit(testCtx(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { first.Cancel(context.Background(), h) })

	second := newREST(t, site, t.TempDir())
	got, ok, err := second.Find(testCtx(t), spec.RunID, spec.Attempt)
	if err != nil || !ok || got != h {
		t.Fatalf("Find by name = %q, %v, %v; want %q", got, ok, err, h)
	}
	if again, err := second.Submit(testCtx(t), spec); err != nil || again != h {
		t.Fatalf("Submit after Find = %q, %v; want the existing job %q", again, err, h)
	}
	// A third controller whose records say a submit was under way but
	// hold no job id asks slurmrestd before submitting.
	third := t.TempDir()
	dir := filepath.Join(third, "jobs", spec.Key())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "submitting"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := newREST(t, site, third).Submit(testCtx(t), spec); err != nil || got != h {
		t.Fatalf("Submit after an interrupted submit = %q, %v; want the existing job %q", got, err, h)
	}
	// Nothing but the first job carries the name.
	n := 0
	out, err := runCmd("squeue", "-h", "-t", "all", "--name="+slurm.JobName(spec.RunID, spec.Attempt), "-o", "%i")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range strings.Fields(out) {
		n++
		if id != h {
			t.Errorf("a second job %s carries the name of %s", id, h)
		}
	}
	if n != 1 {
		t.Fatalf("%d jobs carry the attempt's name, want 1", n)
	}
}

// BenchmarkSubmitREST measures Submit through slurmrestd's socket (lock,
// partition check, intent record, POST, records); compare BenchmarkSubmit,
// the same through sbatch.
func BenchmarkSubmitREST(b *testing.B) {
	if os.Getenv("MERIDIAN_TEST_SLURM") != "1" || os.Getenv("MERIDIAN_SLURMREST_SOCKET") == "" {
		b.Skip("MERIDIAN_TEST_SLURM is not 1 or MERIDIAN_SLURMREST_SOCKET is unset")
	}
	site := catalog.BackendSpec{Type: "slurm", RestURL: "unix://" + os.Getenv("MERIDIAN_SLURMREST_SOCKET"),
		Partition: envOr("MERIDIAN_TEST_SLURM_PARTITION", "conformance")}
	r := newREST(b, site, b.TempDir())
	wd, err := os.MkdirTemp(os.Getenv("MERIDIAN_SLURMREST_WORK"), "bench-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(wd)
	os.Chmod(wd, 0o777)
	ctx := context.Background()
	prefix := fmt.Sprintf("bench-rest-%d", time.Now().UnixNano())
	for i := 0; b.Loop(); i++ {
		if _, err := r.Submit(ctx, backend.Spec{RunID: fmt.Sprintf("%s-%d", prefix, i), Attempt: 1,
			Command: []string{"true"}, WorkDir: wd}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "submits/s")
}

// loseSubmitAnswer is a transport that lets submits reach slurmrestd and
// then loses their answers, as when the controller is killed, or the
// network fails, after slurmctld took the job.
type loseSubmitAnswer struct{ next http.RoundTripper }

func (l loseSubmitAnswer) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(req)
	if err == nil && req.Method == http.MethodPost {
		resp.Body.Close()
		return nil, errors.New("connection reset (test: the answer is lost)")
	}
	return resp, err
}

// TestRESTSubmitAnswerLost: a submit whose answer is lost after slurmctld
// took the job is not submitted again, by the same controller or by one
// restarted on the same state; the job is found by its name.
func TestRESTSubmitAnswerLost(t *testing.T) {
	site, _ := restCluster(t)
	state := t.TempDir()
	spec := backend.Spec{RunID: uniqueRunID(t, "rest-lost-answer"), Attempt: 1,
		Command: []string{"/bin/sh", "-c", "echo run >>runs.txt"}, WorkDir: restWorkDir(t)}
	lossy := newREST(t, site, state, slurm.WithTransport(func(rt http.RoundTripper) http.RoundTripper { return loseSubmitAnswer{rt} }))
	if h, err := lossy.Submit(testCtx(t), spec); err == nil {
		t.Fatalf("Submit whose answer was lost returned %q without error", h)
	}
	restarted := newREST(t, site, state)
	h, err := restarted.Submit(testCtx(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	if st := backendtest.WaitFinal(t, restarted, h); st.State != backend.Succeeded {
		t.Fatalf("status %+v, want succeeded", st)
	}
	out, err := runCmd("squeue", "-h", "-t", "all", "--name="+slurm.JobName(spec.RunID, spec.Attempt), "-o", "%i")
	if err != nil {
		t.Fatal(err)
	}
	if ids := strings.Fields(out); len(ids) != 1 || ids[0] != h {
		t.Fatalf("jobs named for the attempt: %q, want only %s", ids, h)
	}
	data, err := os.ReadFile(filepath.Join(spec.WorkDir, "runs.txt"))
	if err != nil || strings.Count(string(data), "run\n") != 1 {
		t.Fatalf("the job ran %q times (%v), want once", data, err)
	}
}

// TestRESTForgottenJob: once slurmctld no longer knows a job (MinJobAge
// passed, no accounting), Status answers from what the backend kept: the
// final state it saw, or cancelled, or else lost; a job id it never had is
// not found.
func TestRESTForgottenJob(t *testing.T) {
	site, _ := restCluster(t)
	dir := t.TempDir()
	b := newREST(t, site, dir)
	const id = "987654321" // a job id slurmctld has never issued
	if _, err := b.Status(testCtx(t), id); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("Status of a job id nobody recorded = %v, want ErrNotFound", err)
	}
	key := "gone-1"
	write := func(path, data string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "handles", id), key+"\n")
	if st, err := b.Status(testCtx(t), id); err != nil || st.State != backend.Lost {
		t.Fatalf("Status of a forgotten job with no final state kept = %+v, %v; want lost", st, err)
	}
	write(filepath.Join(dir, "jobs", key, "cancelled"), "")
	if st, err := b.Status(testCtx(t), id); err != nil || st.State != backend.Cancelled {
		t.Fatalf("Status of a forgotten cancelled job = %+v, %v; want cancelled", st, err)
	}
	write(filepath.Join(dir, "jobs", key, "final.json"), `{"State":"failed","ExitCode":9,"Reason":"failed NonZeroExitCode"}`)
	if st, err := b.Status(testCtx(t), id); err != nil || st.State != backend.Failed || st.ExitCode != 9 {
		t.Fatalf("Status of a forgotten job whose end was seen = %+v, %v; want failed with exit code 9", st, err)
	}
	if err := b.Cancel(testCtx(t), id); err != nil {
		t.Fatalf("Cancel of a forgotten finished job: %v", err)
	}
}

// fakeRESTJobs serves GET jobs (the list find reads) on a unix socket, as
// slurmrestd does, from the test's own process: slurmrestd's user, as the
// backend reads it from the socket, is this process's. It returns the
// socket's restURL.
func fakeRESTJobs(t *testing.T, jobs []map[string]any) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "rest")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: jobsHandler(jobs)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "unix://" + sock
}

// jobsHandler answers GET jobs with jobs, and nothing else.
func jobsHandler(jobs []map[string]any) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet || req.URL.Path != "/slurm/v0.0.38/jobs" {
			http.Error(w, "not served by this fake", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"jobs": jobs, "errors": []any{}})
	})
}

// TestRESTFindTakesOnlyThisUsersJobAsSubmitted: a controller without a
// record of an attempt's job looked it up in slurmrestd's list by name
// alone, and any user may name a job like the attempt's; the job's owner
// may rename one of its own jobs so. It took the oldest such job, another
// user's included, for the attempt. Now a job counts only if it is the
// user's that slurmrestd runs jobs as and bears the comment, working
// directory and output it was submitted with; such a job of that user
// that bears only the name makes the lookup fail rather than answer "not
// found".
func TestRESTFindTakesOnlyThisUsersJobAsSubmitted(t *testing.T) {
	me, other := os.Getuid(), os.Getuid()+1
	name := slurm.JobName("r1", 1)
	job := func(id, uid int, comment, cwd, stdout string) map[string]any {
		return map[string]any{"job_id": id, "name": name, "user_id": uid, "user_name": "u" + strconv.Itoa(uid),
			"comment": comment, "current_working_directory": cwd, "standard_output": stdout}
	}
	const comment = "meridian run r1 attempt 1"
	for _, c := range []struct {
		what   string
		jobs   []map[string]any
		want   string // "" with wantErr false: not found
		errors bool
	}{
		{"another user's job of the attempt's name only", []map[string]any{job(10, other, comment, "/", "/dev/null")}, "", false},
		{"this user's job, older than another user's", []map[string]any{job(20, me, comment, "/", "/dev/null"), job(10, other, comment, "/", "/dev/null")}, "20", false},
		{"this user's job of the name, another comment", []map[string]any{job(30, me, "mine", "/", "/dev/null")}, "", true},
		{"this user's job of the name, another working directory", []map[string]any{job(31, me, comment, "/home/u", "/dev/null")}, "", true},
		{"this user's job of the name, another output", []map[string]any{job(32, me, comment, "/", "/home/u/out")}, "", true},
		{"a job without a user", []map[string]any{{"job_id": 40, "name": name, "comment": comment, "current_working_directory": "/", "standard_output": "/dev/null"}}, "", false},
	} {
		site := catalog.BackendSpec{Type: "slurm", RestURL: fakeRESTJobs(t, c.jobs)}
		b := newREST(t, site, t.TempDir())
		id, ok, err := b.Find(context.Background(), "r1", 1)
		switch {
		case c.errors:
			if err == nil {
				t.Errorf("%s: Find = %q, %v, no error; want an error", c.what, id, ok)
			}
		case err != nil:
			t.Errorf("%s: Find: %v", c.what, err)
		case c.want == "" && ok:
			t.Errorf("%s: Find = %q; want not found", c.what, id)
		case c.want != "" && (!ok || id != c.want):
			t.Errorf("%s: Find = %q, %v; want %s", c.what, id, ok, c.want)
		}
	}
}

// TestRESTFindOverHTTPSTakesOnlyTheTokensUsersJob: over https the jobs run
// as the user the requests name (backend.user), else the token's user (its
// "sun" claim); a job of the attempt's name of another user is not taken,
// even when it is the oldest.
func TestRESTFindOverHTTPSTakesOnlyTheTokensUsersJob(t *testing.T) {
	name := slurm.JobName("r1", 1)
	job := func(id int, user string) map[string]any {
		return map[string]any{"job_id": id, "name": name, "user_id": 1000 + id, "user_name": user,
			"comment": "meridian run r1 attempt 1", "current_working_directory": "/", "standard_output": "/dev/null"}
	}
	url, trust := tlsServer(t, jobsHandler([]map[string]any{job(10, "mallory"), job(20, "alice"), job(30, "carol")}))
	// {"alg":"HS256"}.{"sun":"alice"}
	tok := writeToken(t, "eyJhbGciOiJIUzI1NiJ9.eyJzdW4iOiJhbGljZSJ9.signature")
	for _, c := range []struct{ user, want string }{{"", "20"}, {"carol", "30"}} {
		site := catalog.BackendSpec{Type: "slurm", RestURL: url, TokenFile: tok, User: c.user}
		id, ok, err := newREST(t, site, t.TempDir(), trust).Find(context.Background(), "r1", 1)
		if err != nil || !ok || id != c.want {
			t.Errorf("backend.user %q: Find = %q, %v, %v; want %s", c.user, id, ok, err, c.want)
		}
	}
	// A token that names no user, with no backend.user: the lookup fails
	// rather than take any user's job.
	site := catalog.BackendSpec{Type: "slurm", RestURL: url, TokenFile: writeToken(t, "opaque-token")}
	if id, ok, err := newREST(t, site, t.TempDir(), trust).Find(context.Background(), "r1", 1); err == nil {
		t.Errorf("a token without a user: Find = %q, %v, no error; want an error naming backend.user", id, ok)
	} else if !strings.Contains(err.Error(), "backend.user") {
		t.Errorf("a token without a user: %v; want it to name backend.user", err)
	}
}

// TestRESTSubmitAfterALostAnswerDoesNotRunTwice: a submit whose answer was
// lost may have made a job, and slurmctld forgets a finished job after
// MinJobAge, so a later submit of the attempt that finds no job in
// slurmrestd's list cannot tell a job that ran from none: it used to
// submit the attempt again. It now refuses. A submit the scheduler refused
// outright (Slurm's error in the answer) made no job, and the next submit
// goes ahead.
func TestRESTSubmitAfterALostAnswerDoesNotRunTwice(t *testing.T) {
	var posts atomic.Int32
	var answer atomic.Value // "drop", "refuse" or "ok"
	mux := http.NewServeMux()
	mux.Handle("GET /slurm/v0.0.38/jobs", jobsHandler([]map[string]any{}))
	mux.HandleFunc("POST /slurm/v0.0.38/job/submit", func(w http.ResponseWriter, req *http.Request) {
		posts.Add(1)
		w.Header().Set("Content-Type", "application/json")
		switch answer.Load() {
		case "drop":
			// The connection ends before any answer: the job may exist.
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		case "refuse":
			json.NewEncoder(w).Encode(map[string]any{"errors": []any{map[string]any{"error": "Invalid account or account/partition combination specified", "error_number": 2045}}})
		case "timeout":
			// slurmrestd gave up waiting for slurmctld, which may have
			// queued the job meanwhile.
			w.WriteHeader(http.StatusInternalServerError)
			json.NewEncoder(w).Encode(map[string]any{"errors": []any{map[string]any{"error": "Socket timed out on send/recv operation", "error_number": 5004}}})
		default:
			json.NewEncoder(w).Encode(map[string]any{"job_id": 77, "errors": []any{}})
		}
	})
	dir, err := os.MkdirTemp("", "rest")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ln, err := net.Listen("unix", filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	site := catalog.BackendSpec{Type: "slurm", RestURL: "unix://" + filepath.Join(dir, "s")}
	spec := func(attempt int) backend.Spec {
		return backend.Spec{RunID: "r1", Attempt: attempt, Command: []string{"/bin/true"}, WorkDir: "/scratch/job"}
	}

	state := t.TempDir()
	answer.Store("drop")
	if h, err := newREST(t, site, state).Submit(context.Background(), spec(1)); err == nil {
		t.Fatalf("a submit whose connection dropped returned %q", h)
	}
	answer.Store("ok")
	before := posts.Load()
	h, err := newREST(t, site, state).Submit(context.Background(), spec(1))
	if err == nil || posts.Load() != before {
		t.Fatalf("after a lost answer and no job listed: Submit = %q, %v, with %d more submits; want an error and none", h, err, posts.Load()-before)
	}
	if !strings.Contains(err.Error(), "not running the attempt a second time") || !errors.Is(err, backend.ErrAttemptUnknown) {
		t.Errorf("the refusal does not say why, or is not ErrAttemptUnknown: %v", err)
	}

	// A timeout between slurmrestd and slurmctld is no refusal: the job
	// may have been queued, and the attempt is not submitted again.
	answer.Store("timeout")
	if h, err := newREST(t, site, state).Submit(context.Background(), spec(3)); err == nil {
		t.Fatalf("a submit answered with a timeout returned %q", h)
	}
	answer.Store("ok")
	before = posts.Load()
	if h, err := newREST(t, site, state).Submit(context.Background(), spec(3)); err == nil || posts.Load() != before {
		t.Fatalf("after a timeout answer and no job listed: Submit = %q, %v, with %d more submits; want an error and none", h, err, posts.Load()-before)
	}

	answer.Store("refuse")
	if h, err := newREST(t, site, state).Submit(context.Background(), spec(2)); err == nil {
		t.Fatalf("a refused submit returned %q", h)
	}
	answer.Store("ok")
	if h, err := newREST(t, site, state).Submit(context.Background(), spec(2)); err != nil || h != "77" {
		t.Fatalf("after a refused submit: Submit = %q, %v; want job 77", h, err)
	}
}
