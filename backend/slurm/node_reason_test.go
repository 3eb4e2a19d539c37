package slurm_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/slurm"
)

// TestNodeStateNotSwayedByItsReason: scontrol prints a node's Reason, free
// text that health checks write and may fill with what a job runs, after
// its State, and the parser let a later "State=..." word replace the
// earlier one. A down node whose reason said "State=IDLE" read as up:
// Clean removed the work directory of a job that may still run there, and
// Status read a job on it as running; an up node whose reason said
// "State=DOWN" made Status read its job lost. The State slurmctld printed
// now stands.
func TestNodeStateNotSwayedByItsReason(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	job := filepath.Join(state, "jobs", "r1-1")
	script := filepath.Join(job, "job.sh")
	squeueOut, nodeOut := filepath.Join(dir, "squeue.out"), filepath.Join(dir, "node.out")
	b := fakeSlurm(t, state, map[string]string{
		"squeue":   "#!/bin/sh\ncat " + squeueOut + "\n",
		"scontrol": "#!/bin/sh\ncat " + nodeOut + "\n",
	})
	write := func(path, data string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	slurm.WriteRecord(t, state, filepath.Join("handles", "777"), "r1-1")
	slurm.WriteRecord(t, state, filepath.Join("jobs", "r1-1", "jobid"), "777")
	write(script, "")
	write(filepath.Join(job, "started"), "")
	jobLine := func(slurmState string) string {
		return strings.Join([]string{"777", slurmState, "0", "2026-01-01T00:00:00", "2026-01-01T00:00:01", "n1", "None", filepath.Join(job, "output.log"), script, ownUID}, "\x1f") + "\x1f\n"
	}
	node := func(st, reason string) string {
		return "NodeName=n1 Arch=x86_64 State=" + st + " Partitions=p Reason=" + reason + " [root@2026-01-01T00:00:00]\n"
	}

	// Down, its reason quoting "State=IDLE".
	write(nodeOut, node("DOWN+DRAIN", "NHC: check_ps: process State=IDLE Partitions=p is not allowed"))
	write(squeueOut, jobLine("RUNNING"))
	if st, err := b.Status(context.Background(), "777"); err != nil || st.State != backend.Lost {
		t.Fatalf("Status of a job on a down node = %+v, %v; want lost", st, err)
	}
	work := b.WorkDir(backend.Spec{RunID: "r1", Attempt: 1})
	write(filepath.Join(work, "data"), "plaintext")
	write(squeueOut, jobLine("NODE_FAIL"))
	if err := b.Clean(context.Background(), "777"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(work, "data")); err != nil {
		t.Fatalf("Clean removed the work directory of a job whose node is down (%v)", err)
	}

	// Up, its reason quoting "State=DOWN".
	write(nodeOut, node("IDLE", "was State=DOWN before"))
	write(squeueOut, jobLine("RUNNING"))
	if st, err := b.Status(context.Background(), "777"); err != nil || st.State != backend.Running {
		t.Fatalf("Status of a job on an up node = %+v, %v; want running", st, err)
	}
}
