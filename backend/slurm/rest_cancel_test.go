package slurm_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
)

// TestRESTCancelEndsAJobStatusReadsLost: Status reads a job lost while it
// waits on a partition that is down (and keeps that), and Cancel, going
// by Status, took it for ended and sent no DELETE: the job stayed queued
// and ran once the partition was back, beside the attempt that replaced
// it. Cancel now asks slurmctld whether the job has ended.
func TestRESTCancelEndsAJobStatusReadsLost(t *testing.T) {
	var deletes atomic.Int32
	url, trust := job8Server(t, &deletes, func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"errors": []any{}, "jobs": []any{map[string]any{
			"job_id": 8, "name": "meridian-r1-1", "comment": "meridian run r1 attempt 1",
			"job_state": endedOnDelete(&deletes, "PENDING"), "state_reason": "PartitionDown", "exit_code": 0}}})
	})
	site := catalog.BackendSpec{Type: "slurm", RestURL: url, TokenFile: writeToken(t, "cancel.token")}
	state := t.TempDir()
	for _, d := range []string{filepath.Join(state, "jobs", "r1-1"), filepath.Join(state, "handles")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(state, "handles", "8"), []byte("r1-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := newREST(t, site, state, trust)
	if st, err := b.Status(testCtx(t), "8"); err != nil || st.State != backend.Lost {
		t.Fatalf("Status of a job pending on a partition that is down = %+v, %v; want lost", st, err)
	}
	if err := b.Cancel(testCtx(t), "8"); err != nil {
		t.Fatal(err)
	}
	if n := deletes.Load(); n != 1 {
		t.Fatalf("Cancel sent %d DELETEs for the job still queued, want 1", n)
	}
}
