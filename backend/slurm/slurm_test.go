package slurm_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/backendtest"
	"meridian.dev/meridian/backend/slurm"
	"meridian.dev/meridian/catalog"
)

// cluster returns the site settings of the test cluster, failing (not
// skipping) when MERIDIAN_TEST_SLURM=1 and Slurm is unreachable.
func cluster(t *testing.T) catalog.BackendSpec {
	t.Helper()
	if os.Getenv("MERIDIAN_TEST_SLURM") != "1" {
		t.Skip("MERIDIAN_TEST_SLURM is not 1; scripts/test.sh starts a cluster and sets it")
	}
	site := catalog.BackendSpec{
		Type:      "slurm",
		Partition: envOr("MERIDIAN_TEST_SLURM_PARTITION", "conformance"),
		GresType:  envOr("MERIDIAN_TEST_SLURM_GRES", "h100"),
		Endpoint:  os.Getenv("SLURM_CONF"),
	}
	// The conformance partitions are failed on purpose by some tests.
	backendtest.Exclusive(t, "slurm-conformance")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "sinfo", "-h", "-p", site.Partition, "-o", "%a %t").CombinedOutput()
	if err != nil || len(out) == 0 {
		t.Fatalf("MERIDIAN_TEST_SLURM=1 but Slurm partition %s is unreachable (run scripts/slurm-up.sh and source its env.sh): %v: %s", site.Partition, err, out)
	}
	return site
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func TestConformance(t *testing.T) {
	site := cluster(t)
	backendtest.Run(t, func(t *testing.T, stateDir string) backend.Backend {
		b, err := slurm.New(site, stateDir)
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

func newSlurm(t testing.TB, site catalog.BackendSpec, dir string) *slurm.Slurm {
	t.Helper()
	b, err := slurm.New(site, dir)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testCtx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), backendtest.Timeout)
	t.Cleanup(cancel)
	return c
}

func uniqueRunID(t *testing.T, name string) string {
	return fmt.Sprintf("%s-%d", name, time.Now().UnixNano())
}

// TestFindsRenamedJobWithoutRecords: a controller that lost its records of
// a running job (its state directory kept the attempt's batch script, as
// after a submit interrupted before the job id was written, but not the id)
// finds the job even though the job's owner, as whom its workload runs,
// renamed it; and Submit returns that job instead of submitting the attempt
// a second time. Before, the job was looked up by its name only: Find found
// nothing and Submit ran the attempt twice.
func TestFindsRenamedJobWithoutRecords(t *testing.T) {
	site := cluster(t)
	dir := t.TempDir()
	spec := backend.Spec{RunID: uniqueRunID(t, "renamed"), Attempt: 2,
		Command: []string{"/bin/sh", "-c", "exec sleep 300"}, WorkDir: t.TempDir()}
	name := slurm.JobName(spec.RunID, spec.Attempt)
	renamed := "renamed-" + spec.RunID
	first := newSlurm(t, site, dir)
	h, err := first.Submit(testCtx(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	// By name too: a second job submitted by mistake bears the first name.
	t.Cleanup(func() { runCmd("scancel", h); runCmd("scancel", "--name="+name); waitLeft(h) })
	waitRunning(t, first, h)

	if out, err := exec.Command("scontrol", "update", "JobId="+h, "Name="+renamed).CombinedOutput(); err != nil {
		t.Fatalf("scontrol update name: %v: %s", err, out)
	}
	if out, err := runCmd("squeue", "-h", "-j", h, "-O", "Name:|"); err != nil || out != renamed+"|\n" {
		t.Fatalf("squeue gives job %s the name %q after the update (%v), want %q", h, out, err, renamed)
	}

	key := spec.Key()
	forget := func() {
		t.Helper()
		for _, p := range []string{filepath.Join(dir, "jobs", key, "jobid"), filepath.Join(dir, "handles", h)} {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}
	}
	forget()
	got, ok, err := newSlurm(t, site, dir).Find(testCtx(t), spec.RunID, spec.Attempt)
	if err != nil || !ok || got != h {
		t.Fatalf("Find of the renamed job without records = %q, %v, %v; want %q", got, ok, err, h)
	}
	forget()
	if got, err := newSlurm(t, site, dir).Submit(testCtx(t), spec); err != nil || got != h {
		t.Fatalf("Submit of the renamed job's attempt without records = %q, %v; want the existing job %q", got, err, h)
	}
	if out, err := runCmd("squeue", "-h", "-t", "all", "--name="+name, "-o", "%i"); err != nil || strings.TrimSpace(out) != "" {
		t.Fatalf("squeue lists jobs %q (%v) under the attempt's name, want none: the attempt was submitted again", out, err)
	}
	if st, err := first.Status(testCtx(t), h); err != nil || st.State != backend.Running {
		t.Fatalf("Status of the renamed job = %+v, %v; want running", st, err)
	}
}

// TestJobOfAnotherStateDirIsNotTaken: a job that bears an attempt's name but
// was not submitted with this state directory's batch script (here another
// backend's, which any job of the same user could equally be) is neither
// taken for the attempt nor ignored: Find and a Submit that must ask
// slurmctld fail, naming the job, and nothing is submitted. Before, a
// backend without records took any job of that name for its own.
func TestJobOfAnotherStateDirIsNotTaken(t *testing.T) {
	site := cluster(t)
	spec := backend.Spec{RunID: uniqueRunID(t, "other"), Attempt: 3,
		Command: []string{"/bin/sh", "-c", "exec sleep 300"}, WorkDir: t.TempDir()}
	name := slurm.JobName(spec.RunID, spec.Attempt)
	first := newSlurm(t, site, t.TempDir())
	h, err := first.Submit(testCtx(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { runCmd("scancel", "--name="+name) })
	cancelAtEnd(t, h)

	second := t.TempDir()
	if got, ok, err := newSlurm(t, site, second).Find(testCtx(t), spec.RunID, spec.Attempt); err == nil || ok || !strings.Contains(err.Error(), "job "+h+" bears the attempt's name") {
		t.Fatalf("Find of another state directory's job = %q, %v, %v; want an error naming job %s", got, ok, err, h)
	}
	// A controller whose state holds the script of an interrupted submit
	// (written before sbatch) but no job id asks slurmctld, and refuses.
	key := spec.Key()
	if err := os.MkdirAll(filepath.Join(second, "jobs", key), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(second, "jobs", key, "job.sh"), []byte("#!/bin/sh\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	if got, err := newSlurm(t, site, second).Submit(testCtx(t), spec); err == nil || got != "" {
		t.Fatalf("Submit after an interrupted submit, with another state directory's job of the name = %q, %v; want an error", got, err)
	}
	if _, err := os.Stat(filepath.Join(second, "jobs", key, "jobid")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a job id was recorded for the attempt (%v)", err)
	}
	out, err := runCmd("squeue", "-h", "-t", "all", "--name="+name, "-o", "%i")
	if err != nil {
		t.Fatal(err)
	}
	if ids := strings.Fields(out); len(ids) != 1 || ids[0] != h {
		t.Fatalf("squeue lists jobs %q under the job name, want only %s", ids, h)
	}
}

// cancelAtEnd cancels jobs ids when the test ends, and waits until each
// has left (waitLeft) before the test's directories are removed.
func cancelAtEnd(t *testing.T, ids ...string) {
	t.Cleanup(func() {
		runCmd("scancel", ids...)
		for _, id := range ids {
			waitLeft(id)
		}
	})
}

// waitLeft waits, up to 30 s, until squeue no longer lists job h as
// pending, running or ending: a cancelled job's step writes the
// cancellation into its output file in the state directory after scancel
// returns, and a test's directory removed meanwhile fails its cleanup.
func waitLeft(h string) {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		out, err := runCmd("squeue", "-h", "-j", h, "-t", "PD,R,CG,S", "-o", "%i")
		if err != nil || strings.TrimSpace(out) == "" { // an error: slurmctld no longer knows it
			return
		}
	}
}

// waitRunning waits until slurmctld runs job h.
func waitRunning(t *testing.T, b *slurm.Slurm, h string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := b.Status(testCtx(t), h)
		if err != nil {
			t.Fatal(err)
		}
		if st.State == backend.Running {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s not running after 30 s: %+v", h, st)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
}

// TestGRES: the job gets as many GPUs of the site's type as asked for, and a
// type the partition lacks is refused at submit time.
func TestGRES(t *testing.T) {
	site := cluster(t)
	b := newSlurm(t, site, t.TempDir())
	spec := backend.Spec{RunID: uniqueRunID(t, "gres"), Attempt: 1, Accelerators: 3,
		Command: []string{"/bin/sh", "-c", `echo "gpus=$CUDA_VISIBLE_DEVICES"`}, WorkDir: t.TempDir()}
	h, err := b.Submit(testCtx(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	if st := backendtest.WaitFinal(t, b, h); st.State != backend.Succeeded {
		t.Fatalf("status %+v, want succeeded", st)
	}
	rc, err := b.Logs(testCtx(t), h)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(rc)
	rc.Close()
	_, gpus, ok := strings.Cut(strings.TrimSpace(string(data)), "gpus=")
	if !ok || len(strings.Split(gpus, ",")) != 3 {
		t.Fatalf("job saw CUDA_VISIBLE_DEVICES %q, want 3 devices (output %q)", gpus, data)
	}

	bad := spec
	bad.RunID, bad.GresType = uniqueRunID(t, "gres-bad"), "no-such-gpu"
	if _, err := b.Submit(testCtx(t), bad); err == nil || !strings.Contains(err.Error(), "Requested node configuration is not available") {
		t.Fatalf("Submit with a GRES type the site lacks: %v, want Slurm's refusal", err)
	}
}

// TestForgottenJobReadsExitFile: once slurmctld no longer knows a job (no
// accounting storage), Status falls back to the exit code the batch script
// wrote.
func TestForgottenJobReadsExitFile(t *testing.T) {
	site := cluster(t)
	dir := t.TempDir()
	b := newSlurm(t, site, dir)
	const id = "987654321" // a job id slurmctld has never issued
	key := "gone-1"
	slurm.WriteRecord(t, dir, filepath.Join("handles", id), key)
	for path, data := range map[string]string{
		filepath.Join(dir, "jobs", key, "exitcode"): "9\n",
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	st, err := b.Status(testCtx(t), id)
	if err != nil || st.State != backend.Failed || st.ExitCode != 9 {
		t.Fatalf("Status of a forgotten job = %+v, %v; want failed with exit code 9", st, err)
	}
	if err := os.Remove(filepath.Join(dir, "jobs", key, "exitcode")); err != nil {
		t.Fatal(err)
	}
	if st, err := b.Status(testCtx(t), id); err != nil || st.State != backend.Lost {
		t.Fatalf("Status of a forgotten job without exit code = %+v, %v; want lost", st, err)
	}
	// A cancel record is the backend's only when signed: one the job's
	// user wrote is ignored.
	if err := os.WriteFile(filepath.Join(dir, "jobs", key, "cancelled"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if st, err := b.Status(testCtx(t), id); err != nil || st.State != backend.Lost {
		t.Fatalf("Status of a forgotten job with an unsigned cancel record = %+v, %v; want lost", st, err)
	}
	slurm.WriteRecord(t, dir, filepath.Join("jobs", key, "cancelled"), "2026-12-06T00:00:00Z")
	if st, err := b.Status(testCtx(t), id); err != nil || st.State != backend.Cancelled {
		t.Fatalf("Status of a forgotten cancelled job = %+v, %v; want cancelled", st, err)
	}
}

// TestForgottenJobTimes: a job slurmctld has forgotten still tells when it
// ran, by the files its batch script wrote on the node: the start mark's
// time and the exit code's agree with the StartTime and EndTime slurmctld
// gave while it knew the job (which count whole seconds).
func TestForgottenJobTimes(t *testing.T) {
	site := cluster(t)
	dir := t.TempDir()
	b := newSlurm(t, site, dir)
	spec := backend.Spec{RunID: uniqueRunID(t, "times"), Attempt: 1,
		Command: []string{"/bin/sh", "-c", "sleep 2"}, WorkDir: t.TempDir()}
	h, err := b.Submit(testCtx(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	var known backend.Status
	for {
		if known, err = b.Status(testCtx(t), h); err != nil {
			t.Fatal(err)
		}
		if known.State.Final() {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if known.State != backend.Succeeded || known.Started.IsZero() || known.Ended.IsZero() {
		t.Fatalf("Status of the finished job = %+v, want succeeded with its times", known)
	}
	// An id slurmctld never issued names the same job's files: it is the
	// job once slurmctld has forgotten it.
	const gone = "987654322"
	slurm.WriteRecord(t, dir, filepath.Join("handles", gone), spec.Key())
	st, err := b.Status(testCtx(t), gone)
	if err != nil || st.State != backend.Succeeded {
		t.Fatalf("Status of the forgotten job = %+v, %v; want succeeded", st, err)
	}
	near := func(what string, got, want time.Time) {
		if d := got.Sub(want); d < -2*time.Second || d > 2*time.Second {
			t.Errorf("forgotten job's %s %s, slurmctld said %s", what, got, want)
		}
	}
	near("start", st.Started, known.Started)
	near("end", st.Ended, known.Ended)
	// File times tick with the kernel's clock (a few milliseconds), not
	// the nanoseconds they are written in.
	if ran := st.Ended.Sub(st.Started); ran < 1900*time.Millisecond || ran > 10*time.Second {
		t.Errorf("forgotten job ran %s by its files, its workload slept 2 s", ran)
	}
}

// TestUnreachableIsAnError: when the Slurm controller cannot be reached,
// calls fail with an error (the caller applies its own timeout before
// declaring the site lost); they never report a state.
func TestUnreachableIsAnError(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "slurm.conf")
	if err := os.WriteFile(conf, []byte("ClusterName=nowhere\nSlurmctldHost=localhost\nSlurmctldPort=1\nAuthType=auth/none\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b := newSlurm(t, catalog.BackendSpec{Type: "slurm", Partition: "p", Endpoint: conf}, filepath.Join(dir, "state"))
	b.CommandTimeout = 2 * time.Second
	if st, err := b.Status(testCtx(t), "12"); err == nil || errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("Status against an unreachable cluster = %+v, %v; want a non-NotFound error", st, err)
	}
	spec := backend.Spec{RunID: "unreach", Attempt: 1, Command: []string{"true"}}
	if _, err := b.Submit(testCtx(t), spec); err == nil {
		t.Fatal("Submit against an unreachable cluster succeeded")
	}
}

// BenchmarkSubmit measures Submit through sbatch (with the backend's own
// bookkeeping: lock, squeue lookup, sinfo partition check, script, records)
// against the test cluster; compare with bench/sbatch-rate.sh.
func BenchmarkSubmit(b *testing.B) {
	if os.Getenv("MERIDIAN_TEST_SLURM") != "1" {
		b.Skip("MERIDIAN_TEST_SLURM is not 1")
	}
	site := catalog.BackendSpec{Type: "slurm", Partition: envOr("MERIDIAN_TEST_SLURM_PARTITION", "conformance"), Endpoint: os.Getenv("SLURM_CONF")}
	s, err := slurm.New(site, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	wd := b.TempDir()
	// Registered after the temporary directories, so run before they are
	// removed: a job still running wrote its marks and output into the
	// state directory while it was removed, and the removal failed
	// ("directory not empty").
	var handles []string
	b.Cleanup(func() { endJobs(b, s, handles) })
	prefix := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	for i := 0; b.Loop(); i++ {
		h, err := s.Submit(ctx, backend.Spec{RunID: fmt.Sprintf("%s-%d", prefix, i), Attempt: 1,
			Command: []string{"true"}, WorkDir: wd})
		if err != nil {
			b.Fatal(err)
		}
		handles = append(handles, h)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "submits/s")
}

// endJobs cancels the jobs of handles and waits until each has ended
// (Status final: COMPLETING, while the node still ends it, is not), so
// that none writes in the state directory any longer.
func endJobs(tb testing.TB, s *slurm.Slurm, handles []string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, h := range handles {
		if err := s.Cancel(ctx, h); err != nil {
			tb.Errorf("cancel job %s: %v", h, err)
		}
	}
	for _, h := range handles {
		for {
			st, err := s.Status(ctx, h)
			if err != nil {
				tb.Errorf("status of job %s: %v", h, err)
				break
			}
			if st.State.Final() {
				break
			}
			select {
			case <-ctx.Done():
				tb.Errorf("job %s still %s after it was cancelled", h, st.State)
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// runCmd runs a Slurm client for the test harness and returns its stdout.
func runCmd(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).Output()
	return string(out), err
}

// TestStatusTimesWhateverTheServersTimeFormat: a server started with
// SLURM_TIME_FORMAT set (a site's login profile sets it for its users:
// "relative", or a strftime format) passed it on to squeue, whose times
// then read as none: a job that ran read as one without a start or an
// end, and its attempt counted no time on the site. squeue is now asked
// for times in one form, whatever the server's environment says.
func TestStatusTimesWhateverTheServersTimeFormat(t *testing.T) {
	site := cluster(t)
	t.Setenv("SLURM_TIME_FORMAT", "relative")
	b := newSlurm(t, site, t.TempDir())
	before := time.Now()
	h, err := b.Submit(testCtx(t), backend.Spec{RunID: uniqueRunID(t, "timefmt"), Attempt: 1,
		Command: []string{"/bin/sh", "-c", "sleep 1"}, WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	st := backendtest.WaitFinal(t, b, h)
	after := time.Now()
	if st.State != backend.Succeeded {
		t.Fatalf("Status = %+v, want succeeded", st)
	}
	// slurmctld counts whole seconds.
	in := func(v time.Time) bool {
		return !v.Before(before.Truncate(time.Second)) && !v.After(after.Add(time.Second))
	}
	if !in(st.Started) || !in(st.Ended) || st.Ended.Before(st.Started) {
		t.Fatalf("Status = %+v: want it started and ended between %s and %s", st, before.UTC(), after.UTC())
	}
}

// TestClientsIgnoreTheServersSlurmSettings: Slurm's clients take options
// from the environment, which a site's login profile may set for its
// users, and the server passed its own on. With SQUEUE_PARTITION naming
// another partition, squeue hid the backend's own job: its status failed
// ("no line for job"), and a submit interrupted before the job id was
// recorded found no job of the attempt and submitted it again (or gave
// the attempt up as unknown once its job had started). With
// SCANCEL_INTERACTIVE, scancel prompted for a yes on a closed input
// without end, and the job was never cancelled.
func TestClientsIgnoreTheServersSlurmSettings(t *testing.T) {
	site := cluster(t)
	// The jobs are cancelled once the variables are unset again.
	var jobs []string
	t.Cleanup(func() {
		for _, h := range jobs {
			runCmd("scancel", h)
		}
	})
	t.Setenv("SQUEUE_PARTITION", "conformance-b")
	t.Setenv("SCANCEL_INTERACTIVE", "true")
	dir := t.TempDir()
	b := newSlurm(t, site, dir)
	spec := backend.Spec{RunID: uniqueRunID(t, "clientenv"), Attempt: 1,
		Command: []string{"/bin/sh", "-c", "exec sleep 300"}, WorkDir: t.TempDir()}
	h, err := b.Submit(testCtx(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	jobs = append(jobs, h)
	if st, err := b.Status(testCtx(t), h); err != nil || st.State.Final() {
		t.Errorf("Status of the job just submitted = %+v, %v; want pending or running", st, err)
	}
	// The server stopped between sbatch and recording the job id: the
	// attempt's script is there, its id is not.
	for _, p := range []string{filepath.Join(dir, "jobs", spec.Key(), "jobid"), filepath.Join(dir, "handles", h)} {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	again, err := newSlurm(t, site, dir).Submit(testCtx(t), spec)
	if again != "" && again != h {
		jobs = append(jobs, again)
	}
	if err != nil || again != h {
		t.Errorf("Submit again after an interrupted submit = %q, %v; want the attempt's job %s", again, err, h)
	}
	// scancel's setting on its own (Cancel asks for the job's state first).
	os.Unsetenv("SQUEUE_PARTITION")
	if err := b.Cancel(testCtx(t), h); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if st := backendtest.WaitFinal(t, b, h); st.State != backend.Cancelled {
		t.Fatalf("Status after Cancel = %+v, want cancelled", st)
	}
}
