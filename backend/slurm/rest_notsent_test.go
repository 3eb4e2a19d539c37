package slurm_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
)

// TestRESTSubmitThatNeverReachedTheSchedulerIsNotLost: a submit that
// failed before its request could make a job (the token file caught empty
// while a renewal rewrote it, slurmrestd refusing the token, or the
// submit's own record failing to be written) left the record that a
// submit may have reached the scheduler, so the next submit of the
// attempt, finding no job of it listed, gave the attempt up as lost
// (ErrAttemptUnknown) for want of a token or a write. Those submits made
// no job, and the next one goes ahead.
func TestRESTSubmitThatNeverReachedTheSchedulerIsNotLost(t *testing.T) {
	var posts atomic.Int32
	var refuse atomic.Bool
	mux := http.NewServeMux()
	mux.Handle("GET /slurm/v0.0.38/jobs", jobsHandler([]map[string]any{}))
	mux.HandleFunc("POST /slurm/v0.0.38/job/submit", func(w http.ResponseWriter, req *http.Request) {
		posts.Add(1)
		if refuse.Load() {
			// What slurmrestd answers to a token it does not accept.
			http.Error(w, "Authentication failure", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"job_id": 77, "errors": []any{}})
	})
	url, trust := tlsServer(t, mux)
	tok := writeToken(t, "first.token.a")
	site := catalog.BackendSpec{Type: "slurm", RestURL: url, TokenFile: tok, User: "u"}
	spec := func(attempt int) backend.Spec {
		return backend.Spec{RunID: "r1", Attempt: attempt, Command: []string{"/bin/true"}, WorkDir: "/scratch/job"}
	}
	state := t.TempDir()
	b := newREST(t, site, state, trust)
	again := func(what string, attempt int) {
		t.Helper()
		before := posts.Load()
		// Every submit is answered job 77: the later attempts' handles
		// name their attempt too (77:KEY), the id being an earlier one's.
		want := "77"
		if attempt > 1 {
			want += ":" + spec(attempt).Key()
		}
		if h, err := newREST(t, site, state, trust).Submit(context.Background(), spec(attempt)); err != nil || h != want || posts.Load() != before+1 {
			t.Errorf("%s: the next Submit = %q, %v, with %d submits; want job 77 from one", what, h, err, posts.Load()-before)
		}
	}

	// The renewal truncates the file, then writes the new token.
	if err := os.WriteFile(tok, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	before := posts.Load()
	if h, err := b.Submit(context.Background(), spec(1)); err == nil || posts.Load() != before {
		t.Fatalf("Submit with an empty token file = %q, %v, with %d submits; want an error and none", h, err, posts.Load()-before)
	}
	if err := os.WriteFile(tok, []byte("second.token.b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	again("after a token file caught empty", 1)

	refuse.Store(true)
	if h, err := b.Submit(context.Background(), spec(2)); err == nil {
		t.Fatalf("Submit with a refused token = %q, want an error", h)
	}
	refuse.Store(false)
	again("after a refused token", 2)

	// The submit's sweep record cannot be written (a directory is in the
	// way): the submit fails before its request.
	in := filepath.Join(state, "jobs", spec(3).Key(), "sweep.json")
	if err := os.MkdirAll(filepath.Join(in, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	before = posts.Load()
	if h, err := b.Submit(context.Background(), spec(3)); err == nil || posts.Load() != before {
		t.Fatalf("Submit whose record cannot be written = %q, %v, with %d submits; want an error and none", h, err, posts.Load()-before)
	}
	if err := os.RemoveAll(in); err != nil {
		t.Fatal(err)
	}
	again("after a record that could not be written", 3)
}

// TestRESTSubmitWhileSlurmrestdIsDownIsNotLost: a submit that could not
// connect to slurmrestd (restarting, or not yet up) sent nothing, yet left
// the record that it may have reached the scheduler: once slurmrestd was
// back, the next submit gave the attempt up as lost. It now goes ahead.
func TestRESTSubmitWhileSlurmrestdIsDownIsNotLost(t *testing.T) {
	dir, err := os.MkdirTemp("", "rest")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "s")
	site := catalog.BackendSpec{Type: "slurm", RestURL: "unix://" + sock}
	spec := backend.Spec{RunID: "r1", Attempt: 1, Command: []string{"/bin/true"}, WorkDir: "/scratch/job"}
	state := t.TempDir()
	if h, err := newREST(t, site, state).Submit(context.Background(), spec); err == nil {
		t.Fatalf("Submit with slurmrestd down = %q, want an error", h)
	}
	var posts atomic.Int32
	mux := http.NewServeMux()
	mux.Handle("GET /slurm/v0.0.38/jobs", jobsHandler([]map[string]any{}))
	mux.HandleFunc("POST /slurm/v0.0.38/job/submit", func(w http.ResponseWriter, req *http.Request) {
		posts.Add(1)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"job_id": 77, "errors": []any{}})
	})
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	if h, err := newREST(t, site, state).Submit(context.Background(), spec); err != nil || h != "77" || posts.Load() != 1 {
		t.Fatalf("Submit once slurmrestd is up = %q, %v, with %d submits; want job 77 from one", h, err, posts.Load())
	}
}
