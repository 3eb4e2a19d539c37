package slurm_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/backend/slurm"
	"meridian.dev/meridian/catalog"
)

// serveREST serves handler on a unix socket as slurmrestd does, and
// returns the socket's restURL.
func serveREST(t *testing.T, handler http.Handler) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "rest")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ln, err := net.Listen("unix", filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: handler}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "unix://" + filepath.Join(dir, "s")
}

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

// TestRESTErrorInAnOKAnswerNamesTheRequestOnce: errors listed in an
// answer of status 200 read "GET /slurm/…/ping: GET /slurm/…/ping: HTTP
// 200: …", the request named twice in every log line and run reason. It
// is named once now.
func TestRESTErrorInAnOKAnswerNamesTheRequestOnce(t *testing.T) {
	url := serveREST(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"pings": []any{}, "errors": []any{map[string]any{"error": "slurmctld is busy", "error_number": 5004}}})
	}))
	b := newREST(t, catalog.BackendSpec{Type: "slurm", RestURL: url}, t.TempDir())
	err := b.Check(context.Background())
	if err == nil {
		t.Fatal("Check passed on an answer listing an error")
	}
	msg := err.Error()
	if n := strings.Count(msg, "/slurm/v0.0.38/ping"); n != 1 || !strings.Contains(msg, "slurmctld is busy") {
		t.Errorf("error %q names the request %d times; want once, with slurmrestd's error", msg, n)
	}
}
