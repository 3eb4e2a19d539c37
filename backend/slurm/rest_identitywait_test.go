package slurm_test

import (
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/slurm"
	"meridian.dev/meridian/catalog"
)

// deadlineRecorder notes the context deadline of each GET of job 8 that
// the backend sends.
type deadlineRecorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	gets []time.Time // a zero time: no deadline
}

func (d *deadlineRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodGet && req.URL.Path == "/slurm/v0.0.38/job/8" {
		dl, _ := req.Context().Deadline()
		d.mu.Lock()
		d.gets = append(d.gets, dl)
		d.mu.Unlock()
	}
	return d.next.RoundTrip(req)
}

// TestRESTSubmitDoesNotWaitOutAStalledIdentity: after slurmrestd answered
// a submit, Submit asked for the new job's identity with the whole request
// timeout, so against a slurmrestd slow to answer GET job/{id} every
// submit took that much longer (30 s by default), while the job was
// already made and recorded. Now that GET has a short deadline of its own,
// and the identity is taken at the first look instead: the job, renamed by
// its workload meanwhile, stays the attempt's.
func TestRESTSubmitDoesNotWaitOutAStalledIdentity(t *testing.T) {
	const clientTimeout = 10 * time.Second
	var (
		mu    sync.Mutex
		stall = true
	)
	release := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/slurm/v0.0.38/job/submit" && r.Method == http.MethodPost:
			json.NewEncoder(w).Encode(map[string]any{"errors": []any{}, "job_id": 8})
		case r.URL.Path == "/slurm/v0.0.38/job/8" && r.Method == http.MethodGet:
			mu.Lock()
			s := stall
			mu.Unlock()
			if s {
				select {
				case <-r.Context().Done():
				case <-release:
				}
				return
			}
			json.NewEncoder(w).Encode(map[string]any{"errors": []any{}, "jobs": []any{map[string]any{
				"job_id": 8, "name": "renamed", "comment": "", "user_id": 64030, "user_name": "slurm",
				"submit_time": time.Now().Unix(), "job_state": "RUNNING", "state_reason": "None", "exit_code": 0}}})
		default:
			http.Error(w, "not served by this fake", http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	rec := &deadlineRecorder{}
	opt := slurm.WithTransport(func(rt http.RoundTripper) http.RoundTripper {
		tr := rt.(*http.Transport).Clone()
		tr.TLSClientConfig.RootCAs = pool
		rec.next = tr
		return rec
	})
	site := catalog.BackendSpec{Type: "slurm", RestURL: srv.URL, TokenFile: writeToken(t, "identity.token"), User: "slurm"}
	state := t.TempDir()
	b := newREST(t, site, state, opt)
	b.SetLimits(clientTimeout, 2)

	spec := backend.Spec{RunID: "r1", Attempt: 1, Command: []string{"true"}, WorkDir: "/cluster/r1"}
	start := time.Now()
	h, err := b.Submit(testCtx(t), spec)
	if err != nil || h != "8" {
		t.Fatalf("Submit = %q, %v; want job 8", h, err)
	}
	rec.mu.Lock()
	gets := append([]time.Time(nil), rec.gets...)
	rec.mu.Unlock()
	if len(gets) == 0 {
		t.Fatal("Submit asked nothing of the job it made")
	}
	for i, dl := range gets {
		if dl.IsZero() || dl.Sub(start) > clientTimeout/2 {
			t.Fatalf("identity GET %d had until %v after the submit began (no deadline if negative); want well within the %v request timeout",
				i+1, dl.Sub(start), clientTimeout)
		}
	}
	if _, err := os.Stat(filepath.Join(state, "jobs", "r1-1", "identity.json")); !os.IsNotExist(err) {
		t.Fatalf("identity kept though slurmrestd never answered for it (%v)", err)
	}

	// slurmrestd answers again; the workload renamed its job meanwhile.
	mu.Lock()
	stall = false
	mu.Unlock()
	if st, err := b.Status(testCtx(t), h); err != nil || st.State != backend.Running {
		t.Fatalf("Status = %+v, %v; want running", st, err)
	}
	if _, err := os.Stat(filepath.Join(state, "jobs", "r1-1", "identity.json")); err != nil {
		t.Fatalf("the first look kept no identity: %v", err)
	}
}
