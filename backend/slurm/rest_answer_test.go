package slurm_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/backend/slurm"
	"meridian.dev/meridian/catalog"
)

// TestRESTFindRefusesAnIDSlurmDoesNotGive: Submit refuses a job id that
// is no Slurm job id (more than 18 digits), but find recorded whatever id
// slurmrestd listed for a job of the attempt's name; Status then refused
// the recorded handle for ever, and the attempt read as lost while its job
// may have run. find now fails on such an id, recording nothing.
func TestRESTFindRefusesAnIDSlurmDoesNotGive(t *testing.T) {
	const id = 1234567890123456789 // 19 digits, an int64 still
	jobs := []map[string]any{{"job_id": id, "name": slurm.JobName("r1", 1), "user_id": os.Getuid(),
		"comment": "meridian run r1 attempt 1", "current_working_directory": "/", "standard_output": "/dev/null"}}
	site := catalog.BackendSpec{Type: "slurm", RestURL: fakeRESTJobs(t, jobs)}
	state := t.TempDir()
	b := newREST(t, site, state)
	if got, ok, err := b.Find(context.Background(), "r1", 1); err == nil {
		t.Fatalf("Find = %q, %v, no error; want an error for a listed id of 19 digits", got, ok)
	}
	if _, err := os.Stat(filepath.Join(state, "jobs", "r1-1", "jobid")); !os.IsNotExist(err) {
		t.Errorf("an id of 19 digits was recorded (stat: %v)", err)
	}
}
