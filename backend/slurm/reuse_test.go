package slurm_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/slurm"
)

// writeSignedRecord records job id as the job of attempt key in the state
// directory dir, as Submit on the command path does.
func writeSignedRecord(t *testing.T, dir, key, id string) {
	t.Helper()
	slurm.WriteRecord(t, dir, filepath.Join("jobs", key, "jobid"), id)
	slurm.WriteRecord(t, dir, filepath.Join("handles", id), key)
}

// writeRecord records job id as the job of attempt key in the state
// directory dir, as Submit through slurmrestd does.
func writeRecord(t *testing.T, dir, key, id string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "jobs", key), 0o700); err != nil {
		t.Fatal(err)
	}
	for path, data := range map[string]string{
		filepath.Join(dir, "jobs", key, "jobid"): id + "\n",
		filepath.Join(dir, "handles", id):        key + "\n",
	} {
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStatusOfAReusedJobID: once slurmctld has forgotten an attempt's job
// and its id counter has wrapped, the recorded id names another job, here
// one of the same user. Status reported that job's state as the attempt's
// (running, so the attempt never ended) and Cancel cancelled it. Now the
// job counts as the attempt's only while its command is the attempt's
// batch script: the attempt reads as a forgotten job (lost, no exit code),
// and Cancel leaves the other job alone.
func TestStatusOfAReusedJobID(t *testing.T) {
	site := cluster(t)
	dir := t.TempDir()
	b := newSlurm(t, site, dir)
	out, err := runCmd("sbatch", "--parsable", "--partition="+site.Partition, "--output=/dev/null", "--chdir="+t.TempDir(), "--wrap=sleep 300")
	if err != nil {
		t.Fatalf("sbatch: %v", err)
	}
	other := strings.TrimSpace(out)
	cancelAtEnd(t, other)
	writeSignedRecord(t, dir, "reused-1", other)

	st, err := b.Status(testCtx(t), other)
	if err != nil || st.State != backend.Lost {
		t.Fatalf("Status of the attempt whose id is now another job's = %+v, %v; want lost (its own job forgotten, no exit code)", st, err)
	}
	if err := b.Cancel(testCtx(t), other); err != nil {
		t.Fatal(err)
	}
	if out, err := runCmd("squeue", "-h", "-t", "all", "-j", other, "-o", "%T"); err != nil || (strings.TrimSpace(out) != "RUNNING" && strings.TrimSpace(out) != "PENDING") {
		t.Fatalf("the other job after Cancel of the attempt: %q, %v; want it still pending or running", out, err)
	}
}

// TestRESTStatusOfAReusedJobID: as TestStatusOfAReusedJobID, through
// slurmrestd: the recorded id names a live job of the same user that is
// not the attempt's (here another attempt's). Status reported that job's
// state and Cancel cancelled it; now the job counts as the attempt's only
// while it bears the attempt's name and comment.
func TestRESTStatusOfAReusedJobID(t *testing.T) {
	site, _ := restCluster(t)
	spec := backend.Spec{RunID: uniqueRunID(t, "reused"), Attempt: 1,
		Command: []string{"/bin/sh", "-c", "exec sleep 300"}, WorkDir: restWorkDir(t)}
	owner := newREST(t, site, t.TempDir())
	other, err := owner.Submit(testCtx(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { owner.Cancel(testCtx(t), other) })
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "handles"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeRecord(t, dir, "reused-1", other)
	b := newREST(t, site, dir)
	st, err := b.Status(testCtx(t), other)
	if err != nil || st.State != backend.Lost {
		t.Fatalf("Status of the attempt whose id is now another job's = %+v, %v; want lost (its own job forgotten)", st, err)
	}
	if err := b.Cancel(testCtx(t), other); err != nil {
		t.Fatal(err)
	}
	if st, err := owner.Status(testCtx(t), other); err != nil || st.State.Final() {
		t.Fatalf("the other job after Cancel of the attempt: %+v, %v; want it still pending or running", st, err)
	}
}

// TestFindCancelsDuplicateJobs: a controller without a record of an
// attempt's job finds two jobs of the attempt's batch script (its submit
// was repeated after a crash that lost the first answer). The oldest was
// taken and the other ran on, unwatched, a second run of the same
// attempt in the same directory. Now the other is cancelled (and its id
// kept beside the attempt's records), and the oldest, recorded, runs on.
func TestFindCancelsDuplicateJobs(t *testing.T) {
	site := cluster(t)
	dir := t.TempDir()
	spec := backend.Spec{RunID: uniqueRunID(t, "dup"), Attempt: 1,
		Command: []string{"/bin/sh", "-c", "exec sleep 300"}, WorkDir: t.TempDir()}
	b := newSlurm(t, site, dir)
	first, err := b.Submit(testCtx(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	cancelAtEnd(t, first)
	key := spec.Key()
	jobDir := filepath.Join(dir, "jobs", key)
	// The same submission again, as Submit makes it.
	out, err := runCmd("sbatch", "--parsable", "--no-requeue", "--partition="+site.Partition,
		"--job-name="+slurm.JobName(spec.RunID, spec.Attempt), "--output="+filepath.Join(jobDir, "output.log"),
		"--chdir="+spec.WorkDir, filepath.Join(jobDir, "job.sh"))
	if err != nil {
		t.Fatalf("sbatch: %v", err)
	}
	second := strings.TrimSpace(out)
	cancelAtEnd(t, second)
	for _, p := range []string{filepath.Join(jobDir, "jobid"), filepath.Join(dir, "handles", first)} {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	got, ok, err := newSlurm(t, site, dir).Find(testCtx(t), spec.RunID, spec.Attempt)
	if err != nil || !ok || got != first {
		t.Fatalf("Find = %q, %v, %v; want the oldest job %s", got, ok, err, first)
	}
	// A cancelled job is COMPLETING until its node has ended it.
	state := func(id string) string {
		deadline := time.Now().Add(30 * time.Second)
		for {
			out, err := runCmd("squeue", "-h", "-t", "all", "-j", id, "-o", "%T")
			if err != nil {
				t.Fatalf("squeue -j %s: %v", id, err)
			}
			if st := strings.TrimSpace(out); st != "COMPLETING" || time.Now().After(deadline) {
				return st
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if st := state(second); st != "CANCELLED" {
		t.Errorf("the duplicate job %s is %s after Find, want cancelled", second, st)
	}
	if st := state(first); st != "RUNNING" && st != "PENDING" {
		t.Errorf("the attempt's job %s is %s after Find, want it still pending or running", first, st)
	}
	if data, err := os.ReadFile(filepath.Join(jobDir, "duplicates")); err != nil || strings.TrimSpace(string(data)) != second {
		t.Errorf("duplicates record = %q, %v; want %s", data, err, second)
	}
}

// TestRESTStatusOfARenamedJob: the workload of an attempt submitted
// through slurmrestd renames its job and changes its comment (here done
// by scontrol, as the workload may as the job's owner), before Status
// first looks at it. Status read the
// job as another that had taken over the attempt's id, lost, and Cancel
// left it running. Now it stays the attempt's job, known by its user and
// submit time, and Cancel ends it.
func TestRESTStatusOfARenamedJob(t *testing.T) {
	site, _ := restCluster(t)
	spec := backend.Spec{RunID: uniqueRunID(t, "renamed"), Attempt: 1,
		Command: []string{"/bin/sh", "-c", "exec sleep 300"}, WorkDir: restWorkDir(t)}
	b := newREST(t, site, t.TempDir())
	h, err := b.Submit(testCtx(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	cancelAtEnd(t, h)
	if out, err := runCmd("scontrol", "update", "JobId="+h, "Name=renamed", "Comment=mine"); err != nil {
		t.Fatalf("scontrol update: %v: %s", err, out)
	}
	if st, err := b.Status(testCtx(t), h); err != nil || st.State.Final() {
		t.Fatalf("Status of the attempt's job renamed = %+v, %v; want pending or running", st, err)
	}
	if err := b.Cancel(testCtx(t), h); err != nil {
		t.Fatal(err)
	}
	if out, err := runCmd("squeue", "-h", "-t", "all", "-j", h, "-o", "%T"); err != nil || (strings.TrimSpace(out) != "CANCELLED" && strings.TrimSpace(out) != "COMPLETING") {
		t.Fatalf("the attempt's renamed job after Cancel: %q, %v; want cancelled", out, err)
	}
}

// TestRESTStatusOfARequeuedRenamedJob: the workload makes its job
// requeueable, renames it and requeues it (as its owner may), which gives
// the job a new submit time. Status read it as another job that had taken
// over the attempt's id, lost, and Cancel left it to run again beside the
// attempt's replacement. A job of the same user submitted later that
// counts a requeue stays the attempt's.
func TestRESTStatusOfARequeuedRenamedJob(t *testing.T) {
	site, _ := restCluster(t)
	spec := backend.Spec{RunID: uniqueRunID(t, "requeued"), Attempt: 1,
		Command: []string{"/bin/sh", "-c", "exec sleep 300"}, WorkDir: restWorkDir(t)}
	b := newREST(t, site, t.TempDir())
	h, err := b.Submit(testCtx(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	cancelAtEnd(t, h)
	waitUntil(t, b, h, 50*time.Millisecond, func(s backend.Status) bool { return s.State == backend.Running })
	if out, err := runCmd("scontrol", "update", "JobId="+h, "Requeue=1", "Name=renamed", "Comment=mine"); err != nil {
		t.Fatalf("scontrol update: %v: %s", err, out)
	}
	if out, err := runCmd("scontrol", "requeue", h); err != nil {
		t.Fatalf("scontrol requeue: %v: %s", err, out)
	}
	// The new submit time is set once the job is back in the queue.
	for deadline := time.Now().Add(30 * time.Second); ; {
		out, err := runCmd("squeue", "-h", "-t", "all", "-j", h, "-o", "%T")
		if err != nil {
			t.Fatal(err)
		}
		if st := strings.TrimSpace(out); st == "PENDING" || st == "RUNNING" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the requeued job is still %q after 30 s", out)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
	if st, err := b.Status(testCtx(t), h); err != nil || st.State.Final() {
		t.Fatalf("Status of the attempt's job requeued and renamed = %+v, %v; want pending or running", st, err)
	}
	if err := b.Cancel(testCtx(t), h); err != nil {
		t.Fatal(err)
	}
	if out, err := runCmd("squeue", "-h", "-t", "all", "-j", h, "-o", "%T"); err != nil || (strings.TrimSpace(out) != "CANCELLED" && strings.TrimSpace(out) != "COMPLETING") {
		t.Fatalf("the attempt's requeued job after Cancel: %q, %v; want cancelled", out, err)
	}
}

// TestStatusOfAnArrayIDOnRealSlurm: a recorded id that slurmctld gave,
// once the attempt's job was forgotten, to an array (its id, or a task's
// own id) printed, asked as JobID, each task's own id: the lines were
// refused as split, and Status of the attempt failed while the array ran.
// Asked as JobArrayID (ID_N), they read as another's job: the attempt is
// lost, and Cancel leaves the array alone.
func TestStatusOfAnArrayIDOnRealSlurm(t *testing.T) {
	site := cluster(t)
	dir := t.TempDir()
	b := newSlurm(t, site, dir)
	out, err := runCmd("sbatch", "--parsable", "--partition="+site.Partition, "--array=0-2", "--output=/dev/null", "--chdir="+t.TempDir(), "--wrap=sleep 300")
	if err != nil {
		t.Fatalf("sbatch: %v", err)
	}
	base := strings.TrimSpace(out)
	cancelAtEnd(t, base)
	// The tasks that started have their own ids.
	var task string
	for deadline := time.Now().Add(30 * time.Second); task == ""; time.Sleep(100 * time.Millisecond) { // polling interval
		if time.Now().After(deadline) {
			t.Fatalf("no task of array %s started in 30 s", base)
		}
		ids, _ := runCmd("squeue", "-h", "-t", "all", "-j", base, "-O", "JobID")
		for _, id := range strings.Fields(ids) {
			if id != base {
				task = id
			}
		}
	}
	for i, id := range []string{base, task} {
		writeSignedRecord(t, dir, fmt.Sprintf("array-%d", i+1), id)
		st, err := b.Status(testCtx(t), id)
		if err != nil || st.State != backend.Lost {
			t.Fatalf("Status of the attempt whose id is now array %s's (%s) = %+v, %v; want lost", base, id, st, err)
		}
		if err := b.Cancel(testCtx(t), id); err != nil {
			t.Fatalf("Cancel of the attempt whose id is now array %s's (%s): %v", base, id, err)
		}
	}
	if out, err := runCmd("squeue", "-h", "-t", "all", "-j", base, "-O", "State"); err != nil || !strings.Contains(out, "RUNNING") {
		t.Fatalf("array %s after the Cancels: %q, %v; want its tasks still running", base, out, err)
	}
}
