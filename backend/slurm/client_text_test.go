package slurm_test

import (
	"context"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
)

// TestClientTextInErrorsBounded: an error quoted what a Slurm client
// printed whole, up to the bound on what is kept of it (8 MiB of sbatch's
// output, 64 KiB of squeue's stderr), from a site's wrapper or a client
// gone wrong; the error is logged at every poll and may become a run's
// reason. It now quotes a bounded start.
func TestClientTextInErrorsBounded(t *testing.T) {
	b := fakeSlurm(t, t.TempDir(), map[string]string{
		"sbatch": "#!/bin/sh\nhead -c 1048576 /dev/zero | tr '\\0' x\n",
		"squeue": "#!/bin/sh\nhead -c 60000 /dev/zero | tr '\\0' e >&2\nexit 1\n",
	})
	_, err := b.Submit(context.Background(), backend.Spec{RunID: "r1", Attempt: 1, Command: []string{"true"}})
	if err == nil || !strings.Contains(err.Error(), "not a job id") {
		t.Fatalf("Submit with sbatch printing no job id = %.200v; want an error saying so", err)
	}
	if n := len(err.Error()); n > 4<<10 {
		t.Errorf("Submit's error is %d bytes, want at most 4 KiB", n)
	}
	_, err = b.Status(context.Background(), "4242")
	if err == nil || !strings.Contains(err.Error(), "eeee") {
		t.Fatalf("Status with squeue failing = %.200v; want an error quoting its stderr", err)
	}
	if n := len(err.Error()); n > 4<<10 {
		t.Errorf("Status's error is %d bytes, want at most 4 KiB", n)
	}
}
