package slurm_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/slurm"
	"meridian.dev/meridian/catalog"
)

// fakeJob is what the fake slurmrestd of identityServer says of job 8.
type fakeJob struct {
	name, comment string
	user          int64
	submit        int64
	restarts      int64
}

// identityServer serves job 8, as *job says of it at each request, and
// counts the DELETEs of it. The state directory it returns records job 8
// as the job of attempt r1-1, with no identity yet (as Submit leaves it).
func identityServer(t *testing.T, job *fakeJob, mu *sync.Mutex, deletes *atomic.Int32) (*slurm.REST, string) {
	t.Helper()
	b, state := identityServerUnrecorded(t, job, mu, deletes)
	writeRecord(t, state, "r1-1", "8")
	return b, state
}

// identityServerUnrecorded is identityServer with nothing recorded; its
// slurmrestd also takes a submit, making job 8.
func identityServerUnrecorded(t *testing.T, job *fakeJob, mu *sync.Mutex, deletes *atomic.Int32) (*slurm.REST, string) {
	t.Helper()
	url, trust := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/slurm/v0.0.38/job/submit" && r.Method == http.MethodPost:
			json.NewEncoder(w).Encode(map[string]any{"errors": []any{}, "job_id": 8})
		case r.URL.Path != "/slurm/v0.0.38/job/8":
			http.Error(w, "not served by this fake", http.StatusNotFound)
		case r.Method == http.MethodDelete:
			deletes.Add(1)
			json.NewEncoder(w).Encode(map[string]any{"errors": []any{}})
		default:
			mu.Lock()
			j := *job
			mu.Unlock()
			json.NewEncoder(w).Encode(map[string]any{"errors": []any{}, "jobs": []any{map[string]any{
				"job_id": 8, "name": j.name, "comment": j.comment, "user_id": j.user, "user_name": "slurm", "submit_time": j.submit, "restart_cnt": j.restarts,
				"job_state": endedOnDelete(deletes, "RUNNING"), "state_reason": "None", "exit_code": 0}}})
		}
	}))
	site := catalog.BackendSpec{Type: "slurm", RestURL: url, TokenFile: writeToken(t, "identity.token"), User: "slurm"}
	state := t.TempDir()
	for _, d := range []string{filepath.Join(state, "jobs", "r1-1"), filepath.Join(state, "handles")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return newREST(t, site, state, trust), state
}

const (
	attemptName    = "meridian-r1-1"
	attemptComment = "meridian run r1 attempt 1"
)

// statusThenCancel checks that Status of job h reads want, and that Cancel
// then sends wantDeletes DELETEs (counted in deletes): one when the job is
// the attempt's, none when it is taken for another job.
func statusThenCancel(t *testing.T, b *slurm.REST, h string, want backend.State, wantDeletes int32, deletes *atomic.Int32) {
	t.Helper()
	if st, err := b.Status(testCtx(t), h); err != nil || st.State != want {
		t.Fatalf("Status = %+v, %v; want %s", st, err, want)
	}
	if err := b.Cancel(testCtx(t), h); err != nil {
		t.Fatal(err)
	}
	if n := deletes.Load(); n != wantDeletes {
		t.Fatalf("Cancel sent %d DELETEs, want %d", n, wantDeletes)
	}
}

// TestRESTRenamedJobStaysTheAttempts: the workload of an attempt, running
// as its job's owner, renamed its job (scontrol update, name and comment).
// Status then read the job as one that had taken over a forgotten job's
// id: lost; and Cancel, taking it for another job, sent no DELETE, so the
// job ran on beside the attempt that replaced it until its time limit.
// Now the job is known by what its owner cannot change, its user and
// submit time, kept when it was first seen as the attempt's: it stays the
// attempt's running job, and Cancel ends it.
func TestRESTRenamedJobStaysTheAttempts(t *testing.T) {
	var (
		mu      sync.Mutex
		deletes atomic.Int32
	)
	job := &fakeJob{name: attemptName, comment: attemptComment, user: 64030, submit: 1796477643}
	b, _ := identityServer(t, job, &mu, &deletes)
	if st, err := b.Status(testCtx(t), "8"); err != nil || st.State != backend.Running {
		t.Fatalf("Status of the attempt's job = %+v, %v; want running", st, err)
	}
	mu.Lock()
	job.name, job.comment = "renamed", ""
	mu.Unlock()
	if st, err := b.Status(testCtx(t), "8"); err != nil || st.State != backend.Running {
		t.Fatalf("Status of the attempt's job renamed by its owner = %+v, %v; want running", st, err)
	}
	if err := b.Cancel(testCtx(t), "8"); err != nil {
		t.Fatal(err)
	}
	if n := deletes.Load(); n != 1 {
		t.Fatalf("Cancel sent %d DELETEs for the attempt's renamed job, want 1", n)
	}
}

// TestRESTReusedIDWithIdentity: with the identity of the attempt's job
// kept, a job that slurmctld knows by the same id but that was submitted
// later, or runs as another user, is not the attempt's (whatever it is
// named), unless, submitted later by the same user, it counts a requeue or
// bears the attempt's name and comment: the attempt's job requeued, which
// its workload may ask for, and rename it too. With no identity kept
// (records from before), the name and comment tell, as they did.
func TestRESTReusedIDWithIdentity(t *testing.T) {
	for _, tc := range []struct {
		name string
		now  fakeJob
		ours bool
	}{
		{"later and renamed", fakeJob{name: "other", comment: "x", user: 64030, submit: 1796477999}, false},
		{"another user", fakeJob{name: attemptName, comment: attemptComment, user: 1000, submit: 1796477643}, false},
		{"requeued", fakeJob{name: attemptName, comment: attemptComment, user: 64030, submit: 1796477999, restarts: 1}, true},
		{"requeued and renamed", fakeJob{name: "other", comment: "x", user: 64030, submit: 1796477999, restarts: 1}, true},
		{"another user's, requeued", fakeJob{name: "other", comment: "x", user: 1000, submit: 1796477999, restarts: 1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var (
				mu      sync.Mutex
				deletes atomic.Int32
			)
			job := &fakeJob{name: attemptName, comment: attemptComment, user: 64030, submit: 1796477643}
			b, _ := identityServer(t, job, &mu, &deletes)
			if st, err := b.Status(testCtx(t), "8"); err != nil || st.State != backend.Running {
				t.Fatalf("Status of the attempt's job = %+v, %v; want running", st, err)
			}
			mu.Lock()
			*job = tc.now
			mu.Unlock()
			want, wantDeletes := backend.Lost, int32(0)
			if tc.ours {
				want, wantDeletes = backend.Running, 1
			}
			statusThenCancel(t, b, "8", want, wantDeletes, &deletes)
		})
	}
	t.Run("old record", func(t *testing.T) {
		var (
			mu      sync.Mutex
			deletes atomic.Int32
		)
		// First seen already renamed: nothing tells it from another job.
		job := &fakeJob{name: "other", comment: "x", user: 64030, submit: 1796477643}
		b, state := identityServer(t, job, &mu, &deletes)
		if st, err := b.Status(testCtx(t), "8"); err != nil || st.State != backend.Lost {
			t.Fatalf("Status = %+v, %v; want lost", st, err)
		}
		if _, err := os.Stat(filepath.Join(state, "jobs", "r1-1", "identity.json")); !os.IsNotExist(err) {
			t.Fatalf("identity kept from a job not taken for the attempt's (%v)", err)
		}
	})
}

// TestRESTJobRenamedBeforeFirstLook: the workload renamed its job before
// Status had first seen it (and kept its identity). Status read it lost
// and Cancel left it running. Now a job of this backend's user submitted
// while Submit waited for slurmrestd is the attempt's whatever its name:
// slurmctld cannot have given the attempt's id to another job so soon.
// One submitted long before or after is not.
func TestRESTJobRenamedBeforeFirstLook(t *testing.T) {
	for _, tc := range []struct {
		name   string
		offset time.Duration
		ours   bool
	}{
		{"then", 0, true},
		{"an hour later", time.Hour, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var (
				mu      sync.Mutex
				deletes atomic.Int32
			)
			job := &fakeJob{}
			b, _ := identityServerUnrecorded(t, job, &mu, &deletes)
			spec := backend.Spec{RunID: "r1", Attempt: 1, Command: []string{"true"}, WorkDir: "/cluster/r1"}
			h, err := b.Submit(testCtx(t), spec)
			if err != nil || h != "8" {
				t.Fatalf("Submit = %q, %v; want job 8", h, err)
			}
			mu.Lock()
			*job = fakeJob{name: "renamed", comment: "", user: 64030, submit: time.Now().Add(tc.offset).Unix()}
			mu.Unlock()
			want, wantDeletes := backend.Lost, int32(0)
			if tc.ours {
				want, wantDeletes = backend.Running, 1
			}
			statusThenCancel(t, b, h, want, wantDeletes, &deletes)
		})
	}
}

// TestRESTJobRequeuedAndRenamedBeforeFirstLook: the workload renamed its
// job and had Slurm requeue it (a new submit time, a restart counted) more
// than submitSkew after the submit, all before the backend's first look.
// With no identity kept, the job matched neither its name nor the submit's
// time: Status read it lost and Cancel left it running. Now Submit keeps
// the job's identity as it answers, and the requeued job of the same user
// stays the attempt's.
func TestRESTJobRequeuedAndRenamedBeforeFirstLook(t *testing.T) {
	var (
		mu      sync.Mutex
		deletes atomic.Int32
	)
	submitted := time.Now().Unix()
	job := &fakeJob{name: attemptName, comment: attemptComment, user: 64030, submit: submitted}
	b, _ := identityServerUnrecorded(t, job, &mu, &deletes)
	spec := backend.Spec{RunID: "r1", Attempt: 1, Command: []string{"true"}, WorkDir: "/cluster/r1"}
	h, err := b.Submit(testCtx(t), spec)
	if err != nil || h != "8" {
		t.Fatalf("Submit = %q, %v; want job 8", h, err)
	}
	mu.Lock()
	*job = fakeJob{name: "renamed", comment: "", user: 64030, submit: submitted + int64(time.Hour/time.Second), restarts: 1}
	mu.Unlock()
	statusThenCancel(t, b, h, backend.Running, 1, &deletes)
}
