package slurm_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/slurm"
	"meridian.dev/meridian/catalog"
)

// TestRESTCleanAfterALostSweepAnswerSubmitsNoSecondSweep: a sweep's
// submit answered with a timeout between slurmrestd and slurmctld, which
// had made the sweep job meanwhile, failed Clean; each later Clean of the
// attempt submitted another sweep job. Clean now looks for the sweep job
// by its name first, after such a submit, and takes it. A sweep the
// scheduler refused outright is submitted again.
func TestRESTCleanAfterALostSweepAnswerSubmitsNoSecondSweep(t *testing.T) {
	var (
		mu     sync.Mutex
		answer = "timeout" // to the next sweep submit: "timeout", "refuse" or "ok"
		sweeps []string    // the sweep jobs slurmctld made
		notes  []string    // their comments
		posts  int         // sweep submits
	)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /slurm/v0.0.38/job/submit", func(w http.ResponseWriter, req *http.Request) {
		var in struct {
			Job struct {
				Name    string `json:"name"`
				Comment string `json:"comment"`
			} `json:"job"`
		}
		json.NewDecoder(req.Body).Decode(&in)
		w.Header().Set("Content-Type", "application/json")
		if !strings.HasPrefix(in.Job.Name, "meridian-sweep-") {
			json.NewEncoder(w).Encode(map[string]any{"job_id": 77, "errors": []any{}})
			return
		}
		mu.Lock()
		defer mu.Unlock()
		posts++
		if answer != "refuse" {
			notes = append(notes, in.Job.Comment)
		}
		switch answer {
		case "refuse":
			json.NewEncoder(w).Encode(map[string]any{"errors": []any{map[string]any{"error": "Invalid account or account/partition combination specified", "error_number": 2045}}})
		case "timeout":
			sweeps = append(sweeps, in.Job.Name)
			w.WriteHeader(http.StatusInternalServerError)
			json.NewEncoder(w).Encode(map[string]any{"errors": []any{map[string]any{"error": "Socket timed out on send/recv operation", "error_number": 5004}}})
		default:
			sweeps = append(sweeps, in.Job.Name)
			json.NewEncoder(w).Encode(map[string]any{"job_id": 100 + len(sweeps), "errors": []any{}})
		}
	})
	mux.HandleFunc("GET /slurm/v0.0.38/job/{id}", func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"errors": []any{}, "jobs": []any{map[string]any{
			"job_id": 77, "name": slurm.JobName("r1", 1), "comment": "meridian run r1 attempt 1",
			"user_id": os.Getuid(), "submit_time": time.Now().Unix(), "job_state": "RUNNING", "exit_code": 0}}})
	})
	mux.HandleFunc("GET /slurm/v0.0.38/jobs", func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		jobs := []any{map[string]any{"job_id": 5, "name": "meridian-sweep-r1-1", "user_id": os.Getuid() + 1}} // another user's
		for i, name := range sweeps {
			jobs = append(jobs, map[string]any{"job_id": 101 + i, "name": name, "comment": notes[i], "user_id": os.Getuid()})
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"jobs": jobs, "errors": []any{}})
	})
	site := catalog.BackendSpec{Type: "slurm", RestURL: serveREST(t, mux), Partition: ""}
	state := t.TempDir()
	b := newREST(t, site, state)
	ctx := context.Background()
	spec := func(attempt int) backend.Spec {
		return backend.Spec{RunID: "r1", Attempt: attempt, Command: []string{"/bin/agent", "agent"}, WorkDir: "/scratch/r1"}
	}
	h, err := b.Submit(ctx, spec(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Clean(ctx, h); err == nil {
		t.Fatal("Clean passed though the sweep's submit timed out")
	}
	for range 3 {
		if err := b.Clean(ctx, h); err != nil {
			t.Fatalf("Clean after a lost sweep answer, its job listed: %v", err)
		}
	}
	mu.Lock()
	if posts != 1 || len(sweeps) != 1 {
		t.Errorf("%d sweep submits made %d sweep jobs (%q); want the one", posts, len(sweeps), sweeps)
	}
	mu.Unlock()
	// The sweep job taken is this user's, not another's of its name.
	if data, err := os.ReadFile(filepath.Join(state, "jobs", "r1-1", "swept")); err != nil || strings.TrimSpace(string(data)) != "101" {
		t.Errorf("sweep recorded: %q, %v; want job 101", data, err)
	}

	// Refused outright: no job was made, and the next Clean submits.
	mu.Lock()
	answer, sweeps, notes, posts = "refuse", nil, nil, 0
	mu.Unlock()
	b = newREST(t, site, t.TempDir())
	if h, err = b.Submit(ctx, spec(1)); err != nil {
		t.Fatal(err)
	}
	if err := b.Clean(ctx, h); err == nil {
		t.Fatal("Clean passed though the sweep's submit was refused")
	}
	mu.Lock()
	answer = "ok"
	mu.Unlock()
	for range 2 {
		if err := b.Clean(ctx, h); err != nil {
			t.Fatalf("Clean after a refused sweep: %v", err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if posts != 2 || len(sweeps) != 1 {
		t.Errorf("after a refused sweep: %d sweep submits made %d sweep jobs; want 2 submits and one job", posts, len(sweeps))
	}
}

// TestRESTCleanTakesNoLookalikeForTheSweep: after a sweep's submit whose
// answer was lost, Clean took any job of the cluster user's that bore the
// sweep's name for the sweep, and submitted none; a workload runs as that
// user and can make such a job, comment and all, so that the lost
// attempt's scratch, unsealed data included, was never swept. The sweep's
// comment now carries a token of its intent record, which no job can bear
// before the sweep's own shows it: a job named alike without it is passed
// over (neither taken nor cancelled), and a job of an earlier try, which
// bears the same token, is still found.
func TestRESTCleanTakesNoLookalikeForTheSweep(t *testing.T) {
	var (
		mu      sync.Mutex
		answer  = "lost" // to the next sweep submit: "lost" (no job made), "timeout" (job made) or "ok"
		sweeps  []map[string]any
		notes   []string // the comment of each sweep submit
		deletes []string
	)
	lookalikes := []any{
		map[string]any{"job_id": 50, "name": "meridian-sweep-r1-1", "comment": "meridian sweep after r1-1", "user_id": os.Getuid()},
		map[string]any{"job_id": 51, "name": "meridian-sweep-r1-1", "comment": "meridian sweep after r1-1 00112233445566778899aabbccddeeff", "user_id": os.Getuid()},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /slurm/v0.0.38/job/submit", func(w http.ResponseWriter, req *http.Request) {
		var in struct {
			Job struct {
				Name    string `json:"name"`
				Comment string `json:"comment"`
			} `json:"job"`
		}
		json.NewDecoder(req.Body).Decode(&in)
		w.Header().Set("Content-Type", "application/json")
		if !strings.HasPrefix(in.Job.Name, "meridian-sweep-") {
			json.NewEncoder(w).Encode(map[string]any{"job_id": 77, "errors": []any{}})
			return
		}
		mu.Lock()
		defer mu.Unlock()
		notes = append(notes, in.Job.Comment)
		id := 100 + len(notes)
		if answer != "lost" {
			sweeps = append(sweeps, map[string]any{"job_id": id, "name": in.Job.Name, "comment": in.Job.Comment, "user_id": os.Getuid()})
		}
		if answer == "ok" {
			json.NewEncoder(w).Encode(map[string]any{"job_id": id, "errors": []any{}})
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
		json.NewEncoder(w).Encode(map[string]any{"errors": []any{map[string]any{"error": "Socket timed out on send/recv operation", "error_number": 5004}}})
	})
	mux.HandleFunc("GET /slurm/v0.0.38/job/{id}", func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"errors": []any{}, "jobs": []any{map[string]any{
			"job_id": 77, "name": slurm.JobName("r1", 1), "comment": "meridian run r1 attempt 1",
			"user_id": os.Getuid(), "submit_time": time.Now().Unix(), "job_state": "RUNNING", "exit_code": 0}}})
	})
	mux.HandleFunc("DELETE /slurm/v0.0.38/job/{id}", func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		deletes = append(deletes, req.PathValue("id"))
		mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"errors": []any{}})
	})
	mux.HandleFunc("GET /slurm/v0.0.38/jobs", func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		jobs := append([]any{}, lookalikes...)
		for _, j := range sweeps {
			jobs = append(jobs, j)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"jobs": jobs, "errors": []any{}})
	})
	site := catalog.BackendSpec{Type: "slurm", RestURL: serveREST(t, mux)}
	state := t.TempDir()
	b := newREST(t, site, state)
	ctx := context.Background()
	h, err := b.Submit(ctx, backend.Spec{RunID: "r1", Attempt: 1, Command: []string{"/bin/agent", "agent"}, WorkDir: "/scratch/r1"})
	if err != nil {
		t.Fatal(err)
	}
	swept := func() string {
		data, _ := os.ReadFile(filepath.Join(state, "jobs", "r1-1", "swept"))
		return strings.TrimSpace(string(data))
	}
	// Lost, no job made: the lookalikes are no sweep.
	if err := b.Clean(ctx, h); err == nil {
		t.Fatal("Clean passed though the sweep's answer was lost")
	}
	mu.Lock()
	answer = "timeout"
	mu.Unlock()
	if err := b.Clean(ctx, h); err == nil {
		t.Fatalf("Clean took a job for the sweep (swept %q) though none of the sweep's was listed", swept())
	}
	// Lost again, its job made: found by the token of the first try.
	mu.Lock()
	answer = "ok"
	mu.Unlock()
	if err := b.Clean(ctx, h); err != nil {
		t.Fatalf("Clean after a lost sweep answer, its job listed: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := swept(); got != "102" {
		t.Errorf("sweep recorded: %q; want the sweep's job 102, no lookalike", got)
	}
	if len(notes) != 2 || notes[0] != notes[1] || notes[0] == "meridian sweep after r1-1" || !strings.HasPrefix(notes[0], "meridian sweep after r1-1 ") {
		t.Errorf("sweep submits' comments %q; want two, alike, each with a token", notes)
	}
	if len(deletes) != 0 {
		t.Errorf("cancelled %q; want no job cancelled", deletes)
	}
}

// TestRESTConcurrentCleansSubmitOneSweep: two Cleans of one attempt at
// once each found no sweep of it yet, and each submitted one. Clean now
// holds the attempt's lock: while the first submits, the second waits
// (here until its deadline, the first being held), and once the first has
// swept, a Clean submits nothing more.
func TestRESTConcurrentCleansSubmitOneSweep(t *testing.T) {
	var (
		mu      sync.Mutex
		posts   int
		entered = make(chan struct{})
		release = make(chan struct{})
	)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /slurm/v0.0.38/job/submit", func(w http.ResponseWriter, req *http.Request) {
		var in struct {
			Job struct {
				Name string `json:"name"`
			} `json:"job"`
		}
		json.NewDecoder(req.Body).Decode(&in)
		w.Header().Set("Content-Type", "application/json")
		if !strings.HasPrefix(in.Job.Name, "meridian-sweep-") {
			json.NewEncoder(w).Encode(map[string]any{"job_id": 77, "errors": []any{}})
			return
		}
		mu.Lock()
		posts++
		first := posts == 1
		mu.Unlock()
		if first {
			close(entered)
			<-release
		}
		json.NewEncoder(w).Encode(map[string]any{"job_id": 100 + posts, "errors": []any{}})
	})
	mux.HandleFunc("GET /slurm/v0.0.38/job/{id}", func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"errors": []any{}, "jobs": []any{map[string]any{
			"job_id": 77, "name": slurm.JobName("r1", 1), "comment": "meridian run r1 attempt 1",
			"user_id": os.Getuid(), "submit_time": time.Now().Unix(), "job_state": "RUNNING", "exit_code": 0}}})
	})
	mux.HandleFunc("GET /slurm/v0.0.38/jobs", func(w http.ResponseWriter, req *http.Request) {
		// The first sweep's job is not made yet: its submit is held.
		io.WriteString(w, `{"jobs":[],"errors":[]}`)
	})
	site := catalog.BackendSpec{Type: "slurm", RestURL: serveREST(t, mux)}
	state := t.TempDir()
	b := newREST(t, site, state)
	b2 := newREST(t, site, state) // another value of the same state directory
	ctx := context.Background()
	h, err := b.Submit(ctx, backend.Spec{RunID: "r1", Attempt: 1, Command: []string{"/bin/agent", "agent"}, WorkDir: "/scratch/r1"})
	if err != nil {
		t.Fatal(err)
	}
	first := make(chan error, 1)
	go func() { first <- b.Clean(ctx, h) }()
	<-entered
	ctx2, cancel := context.WithTimeout(ctx, time.Second)
	err2 := b2.Clean(ctx2, h)
	cancel()
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("the first Clean: %v", err)
	}
	if err := b2.Clean(ctx, h); err != nil {
		t.Fatalf("a Clean after the sweep: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if posts != 1 {
		t.Errorf("%d sweep submits (the second Clean, while the first submitted: %v); want one", posts, err2)
	}
}
