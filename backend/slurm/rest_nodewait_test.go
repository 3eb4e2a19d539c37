package slurm_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
)

// TestRESTStatusWaitsForNodesNoLongerThanItsContext: Status of a running
// job reads the node states, fetched by one caller at a time. A caller
// waited for the one fetching them without regard to its own context, so
// against a slurmrestd slow to list its nodes every Status of a running
// job waited out the fetch before it (a whole request timeout, and one
// each while they failed) past its own deadline. It now gives up when its
// context ends.
func TestRESTStatusWaitsForNodesNoLongerThanItsContext(t *testing.T) {
	asked := make(chan struct{}, 1)
	var jobAnswers atomic.Int32
	release := make(chan struct{})
	url, trust := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/slurm/v0.0.38/job/7":
			jobAnswers.Add(1)
			json.NewEncoder(w).Encode(map[string]any{"errors": []any{}, "jobs": []any{map[string]any{
				"job_id": 7, "name": "meridian-r1-1", "comment": "meridian run r1 attempt 1",
				"job_state": "RUNNING", "exit_code": 0, "start_time": 1796234415, "nodes": "n1",
				"job_resources": map[string]any{"allocated_nodes": []any{map[string]any{"nodename": "n1"}}}}}})
		case "/slurm/v0.0.38/nodes":
			select {
			case asked <- struct{}{}:
			default:
			}
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
			io.WriteString(w, `{"errors":[],"nodes":[{"name":"n1","state":"idle"}]}`)
		default:
			http.Error(w, "not served by this fake", http.StatusNotFound)
		}
	}))
	site := catalog.BackendSpec{Type: "slurm", RestURL: url, TokenFile: writeToken(t, "nodes.token")}
	state := t.TempDir()
	recordRESTJob(t, state, "7", "r1-1")
	b := newREST(t, site, state, trust)
	b.SetLimits(time.Hour, 0) // the first fetch ends only when released

	first := make(chan error, 1)
	go func() {
		st, err := b.Status(testCtx(t), "7")
		if err == nil && st.State != backend.Running {
			err = errors.New("state " + string(st.State) + ", want running")
		}
		first <- err
	}()
	select {
	case <-asked: // the first caller is fetching the node states
	case err := <-first:
		t.Fatalf("the first Status ended without fetching the node states: %v", err)
	}

	// The second Status's context ends once it has had its job (the
	// job's second answer), not after a fixed 2 s: a loaded machine took
	// longer than that for its request, and the context ended before the
	// Status reached the wait it is about.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	second := make(chan error, 1)
	go func() {
		_, err := b.Status(ctx, "7")
		second <- err
	}()
	for deadline := time.Now().Add(hangGuard); jobAnswers.Load() < 2 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-second:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Status while another fetches the node states = %v; want its context's end", err)
		}
		if n := jobAnswers.Load(); n != 2 {
			t.Errorf("slurmrestd answered GET job/7 %d times, want 2 (the second Status gave up before it had its job)", n)
		}
	case <-time.After(hangGuard):
		t.Errorf("Status waited for another caller's fetch of the node states long past its own deadline")
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("the first Status: %v", err)
	}
}

// hangGuard is how long a test waits for a call that should have
// ended at its own deadline before it reports the call as hanging.
const hangGuard = 20 * time.Second
