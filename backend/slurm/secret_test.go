package slurm_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
)

// TestBatchScriptKeepsTheCredentialPrivate: the batch script exports the
// attempt's credential, and the state directory may sit on a file system
// the cluster's other users (other tenants' workloads among them) reach.
// The script and the job's directory are its owner's alone.
func TestBatchScriptKeepsTheCredentialPrivate(t *testing.T) {
	state := t.TempDir()
	b := fakeSlurm(t, state, map[string]string{"sbatch": "#!/bin/sh\necho 4242\n"})
	const secret = "attempt-credential-0123456789abcdef"
	id, err := b.Submit(context.Background(), backend.Spec{RunID: "private", Attempt: 1,
		Command: []string{"agent"}, Env: map[string]string{"MERIDIAN_ATTEMPT_TOKEN": secret}})
	if err != nil || id != "4242" {
		t.Fatalf("Submit = %q, %v; want job 4242", id, err)
	}
	dir := filepath.Join(state, "jobs", "private-1")
	script := filepath.Join(dir, "job.sh")
	data, err := os.ReadFile(script)
	if err != nil || !strings.Contains(string(data), secret) {
		t.Fatalf("job.sh = %q, %v; want the job's environment in it", data, err)
	}
	for _, p := range []string{filepath.Join(state, "jobs"), dir, script} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s: mode %04o lets other users in; want owner only", p, perm)
		}
	}
}
