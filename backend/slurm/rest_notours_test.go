package slurm_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
)

// TestRESTCancelLeavesAJobThisBackendNeverSubmitted: a handle with no
// record of its id (the state directory lost) whose id slurmctld has
// since given to another job made Cancel DELETE that job: another user's,
// where the user slurmrestd takes the requests as may cancel it, or one
// of this user's that no attempt runs. Cancel now leaves a job alone,
// answering not found, unless it runs as this backend's user and bears an
// attempt's name and comment.
func TestRESTCancelLeavesAJobThisBackendNeverSubmitted(t *testing.T) {
	for _, c := range []struct {
		name          string
		user, jobName string
		comment       string
		deleted       bool
	}{
		{"another user's job", "alice", "train", "", false},
		{"another user's job of an attempt's name", "alice", "meridian-r1-1", "meridian run r1 attempt 1", false},
		{"this user's job of no attempt", "meridian", "train", "", false},
		{"this user's job, renamed like an attempt", "meridian", "meridian-r1-1", "", false},
		{"this user's job of an attempt", "meridian", "meridian-r1-1", "meridian run r1 attempt 1", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var deletes atomic.Int32
			url, trust := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				switch {
				case r.URL.Path != "/slurm/v0.0.38/job/8":
					http.Error(w, "not served by this fake", http.StatusNotFound)
				case r.Method == http.MethodDelete:
					deletes.Add(1)
					json.NewEncoder(w).Encode(map[string]any{"errors": []any{}})
				default:
					json.NewEncoder(w).Encode(map[string]any{"errors": []any{}, "jobs": []any{map[string]any{
						"job_id": 8, "name": c.jobName, "comment": c.comment, "user_name": c.user, "user_id": 2000,
						"job_state": "RUNNING", "state_reason": "None", "exit_code": 0}}})
				}
			}))
			site := catalog.BackendSpec{Type: "slurm", RestURL: url, TokenFile: writeToken(t, "cancel.token"), User: "meridian"}
			b := newREST(t, site, t.TempDir(), trust)
			err := b.Cancel(testCtx(t), "8")
			if c.deleted {
				if err != nil || deletes.Load() != 1 {
					t.Fatalf("Cancel of this user's job of an attempt, with no record = %v, %d DELETEs; want it cancelled", err, deletes.Load())
				}
				return
			}
			if !errors.Is(err, backend.ErrNotFound) {
				t.Errorf("Cancel of a job this backend never submitted = %v; want not found", err)
			}
			if n := deletes.Load(); n != 0 {
				t.Errorf("Cancel sent %d DELETEs for a job this backend never submitted, want none", n)
			}
		})
	}
}
