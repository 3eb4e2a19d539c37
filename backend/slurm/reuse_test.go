package slurm_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
)

// writeRecord records job id as the job of attempt key in the state
// directory dir, as Submit does.
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
	t.Cleanup(func() { runCmd("scancel", other) })
	writeRecord(t, dir, "reused-1", other)

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
