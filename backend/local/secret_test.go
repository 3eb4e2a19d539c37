package local_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/backendtest"
)

// TestJobFilesKeepTheCredentialPrivate: a job's environment carries its
// attempt credential, which the backend keeps in job.json. Other users of
// the machine (another tenant's workload run under its own uid, with a
// state directory others may traverse) must not read it, nor the job's
// output, from the job's directory.
func TestJobFilesKeepTheCredentialPrivate(t *testing.T) {
	state := t.TempDir()
	b := newLocal(t, state)
	const secret = "attempt-credential-0123456789abcdef"
	h, err := b.Submit(context.Background(), backend.Spec{RunID: "private", Attempt: 1,
		Command: []string{"/bin/sh", "-c", "echo output"}, Env: map[string]string{"MERIDIAN_ATTEMPT_TOKEN": secret}})
	if err != nil {
		t.Fatal(err)
	}
	// The job writes into its directory until it ends; the test's
	// cleanup must not race it.
	defer backendtest.WaitFinal(t, b, h)
	dir := filepath.Join(state, "jobs", h)
	data, err := os.ReadFile(filepath.Join(dir, "job.json"))
	if err != nil || !strings.Contains(string(data), secret) {
		t.Fatalf("job.json = %q, %v; want the job's environment in it", data, err)
	}
	for _, p := range []string{filepath.Join(state, "jobs"), dir, filepath.Join(dir, "job.json"), filepath.Join(dir, "output.log")} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s: mode %04o lets other users in; want owner only", p, perm)
		}
	}
}
