package slurm_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
)

// TestCleanKeepsWhatAJobMayStillUse: Clean removed the work directory of
// a job that Status read as lost because its node was down, though the
// node had only stopped responding and the job still ran there (or
// slurmctld had ended the job, NODE_FAIL, but could not yet tell the node
// to). It now removes the directory only once slurmctld has ended the job
// and the job's nodes respond and are up, or the job wrote its exit code;
// once slurmctld has forgotten the job, by the nodes it was seen on.
func TestCleanKeepsWhatAJobMayStillUse(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	job := filepath.Join(state, "jobs", "r1-1")
	script := filepath.Join(job, "job.sh")
	squeueOut, nodeOut := filepath.Join(dir, "squeue.out"), filepath.Join(dir, "node.out")
	b := fakeSlurm(t, state, map[string]string{
		"squeue":   "#!/bin/sh\n[ -e " + squeueOut + " ] || { echo 'slurm_load_jobs error: Invalid job id specified' >&2; exit 1; }\ncat " + squeueOut + "\n",
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
	write(filepath.Join(state, "handles", "777"), "r1-1\n")
	write(filepath.Join(job, "jobid"), "777\n")
	write(script, "")
	write(filepath.Join(job, "started"), "")
	work := b.WorkDir(backend.Spec{RunID: "r1", Attempt: 1})
	for _, c := range []struct {
		what        string
		slurmState  string // "": slurmctld has forgotten the job
		node        string // the node's State, as scontrol shows it
		files       map[string]string
		removeFiles []string
		removed     bool
	}{
		{what: "running, its node not responding", slurmState: "RUNNING", node: "DOWN*"},
		{what: "node_fail, its node not responding", slurmState: "NODE_FAIL", node: "DOWN*"},
		{what: "node_fail, its node idle but not responding", slurmState: "NODE_FAIL", node: "IDLE*"},
		{what: "node_fail, its node down", slurmState: "NODE_FAIL", node: "DOWN+DRAIN"},
		{what: "completing, its node up", slurmState: "COMPLETING", node: "IDLE"},
		{what: "forgotten, its node not responding", node: "DOWN*"},
		{what: "forgotten, where it ran unknown", node: "IDLE", removeFiles: []string{"nodes"}},
		{what: "node_fail, its node back", slurmState: "NODE_FAIL", node: "IDLE", removed: true},
		{what: "forgotten, its node back", node: "IDLE", removed: true},
		{what: "forgotten, exit code written", node: "DOWN*", removeFiles: []string{"nodes"}, files: map[string]string{"exitcode": "0\n"}, removed: true},
	} {
		write(filepath.Join(work, "data"), "plaintext")
		for _, name := range c.removeFiles {
			os.Remove(filepath.Join(job, name))
		}
		for name, data := range c.files {
			write(filepath.Join(job, name), data)
		}
		os.Remove(squeueOut)
		if c.slurmState != "" {
			write(squeueOut, strings.Join([]string{"777", c.slurmState, "0", "2026-01-01T00:00:00", "2026-01-01T00:00:01", "n1", "None", filepath.Join(job, "output.log"), script}, "\x1f")+"\x1f\n")
		}
		write(nodeOut, "NodeName=n1 Arch=x86_64 State="+c.node+" Partitions=p\n")
		if err := b.Clean(context.Background(), "777"); err != nil {
			t.Fatalf("%s: Clean: %v", c.what, err)
		}
		_, err := os.Stat(work)
		if gone := os.IsNotExist(err); gone != c.removed {
			t.Errorf("%s: work directory removed %v, want %v", c.what, gone, c.removed)
		}
	}
}
