package slurm_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
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
			url, trust := job8Server(t, &deletes, func(w http.ResponseWriter, r *http.Request) {
				json.NewEncoder(w).Encode(map[string]any{"errors": []any{}, "jobs": []any{map[string]any{
					"job_id": 8, "name": c.jobName, "comment": c.comment, "user_name": c.user, "user_id": 2000,
					"job_state": endedOnDelete(&deletes, "RUNNING"), "state_reason": "None", "exit_code": 0}}})
			})
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

// TestRESTStatusReadsNoJobThisBackendNeverSubmitted: Status of a handle
// with no record of its id (the state directory lost, or a handle made
// up) read the state of whatever job slurmctld had under the id, another
// user's included, as an attempt's. Status now answers not found unless
// the job runs as this backend's user and bears an attempt's name and
// comment, as Cancel does.
func TestRESTStatusReadsNoJobThisBackendNeverSubmitted(t *testing.T) {
	for _, c := range []struct {
		name          string
		user, jobName string
		comment       string
		found         bool
	}{
		{"another user's job", "alice", "train", "", false},
		{"another user's job of an attempt's name", "alice", "meridian-r1-1", "meridian run r1 attempt 1", false},
		{"this user's job of no attempt", "meridian", "train", "", false},
		{"this user's job, renamed like an attempt", "meridian", "meridian-r1-1", "", false},
		{"this user's job of an attempt", "meridian", "meridian-r1-1", "meridian run r1 attempt 1", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			url, trust := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if r.URL.Path != "/slurm/v0.0.38/job/8" || r.Method != http.MethodGet {
					http.Error(w, "not served by this fake", http.StatusNotFound)
					return
				}
				json.NewEncoder(w).Encode(map[string]any{"errors": []any{}, "jobs": []any{map[string]any{
					"job_id": 8, "name": c.jobName, "comment": c.comment, "user_name": c.user, "user_id": 2000,
					"job_state": "COMPLETED", "state_reason": "None", "exit_code": 0}}})
			}))
			site := catalog.BackendSpec{Type: "slurm", RestURL: url, TokenFile: writeToken(t, "status.token"), User: "meridian"}
			b := newREST(t, site, t.TempDir(), trust)
			st, err := b.Status(testCtx(t), "8")
			if c.found {
				if err != nil || st.State != backend.Succeeded {
					t.Fatalf("Status of this user's job of an attempt, with no record = %+v, %v; want succeeded", st, err)
				}
				return
			}
			if !errors.Is(err, backend.ErrNotFound) {
				t.Errorf("Status of a job this backend never submitted = %+v, %v; want not found", st, err)
			}
		})
	}
}

// recordRESTJob writes the record a REST backend over state keeps of the
// job id of the attempt key (handles/ID, and the attempt's directory), as
// Submit does: Status reads no job with no record but an attempt's.
func recordRESTJob(t *testing.T, state, id, key string) {
	t.Helper()
	for _, d := range []string{filepath.Join(state, "jobs", key), filepath.Join(state, "handles")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(state, "handles", id), []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}
