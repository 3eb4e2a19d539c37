package slurm_test

import (
	"context"
	"encoding/json"
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
		posts  int         // sweep submits
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
		defer mu.Unlock()
		posts++
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
			jobs = append(jobs, map[string]any{"job_id": 101 + i, "name": name, "user_id": os.Getuid()})
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
	answer, sweeps, posts = "refuse", nil, 0
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
