package run

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/agent"
	"meridian.dev/meridian/store"
)

// outputFleet is a controller (its loop not started) bounding each
// tenant's output to limit, over a store holding runs at alpha.
type outputFleet struct {
	t   testing.TB
	cfg Config
	st  store.Store
	c   *Controller
}

func newOutputFleet(t testing.TB, limit int64) *outputFleet {
	st, dir := testStore(t)
	cfg := Config{Store: st, StateDir: dir, CatalogDir: "testdata/sites", Workers: 1,
		AgentKey: []byte("agent key for the output-limit tests"), TenantLogLimit: limit}
	return &outputFleet{t: t, cfg: cfg, st: st, c: New(cfg)}
}

// restart stands a new controller over the same store and state
// directory, as a restart does.
func (f *outputFleet) restart() { f.c = New(f.cfg) }

// run makes tenant's run id, in state, at its first attempt.
func (f *outputFleet) run(tenant, id string, state State) *Run {
	f.t.Helper()
	r := &Run{ID: id, Tenant: tenant, Job: "tiny", State: state, Site: "alpha", Attempt: 1, Data: Data{Submitted: time.Now()}}
	r.Attempts = []Attempt{{N: 1, Site: "alpha", Nonce: newNonce()}}
	row, err := toRow(r)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, _, err := f.st.CreateRun(context.Background(), row, "", store.Change{}); err != nil {
		f.t.Fatal(err)
	}
	return r
}

// post posts data as run r's output at the offset its file has reached,
// and answers the status and how many bytes the file grew by.
func (f *outputFleet) post(r *Run, data []byte) (int, int64) {
	f.t.Helper()
	size := func() int64 {
		fi, err := os.Stat(f.c.logPath(r.ID, 1))
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	before := size()
	a := r.Attempts[0]
	req := httptest.NewRequest("POST", agentURL("", r, a, agent.RouteLogs)+fmt.Sprintf("?offset=%d", before), bytes.NewReader(data))
	req.Header.Set("Content-Type", logType)
	req.Header.Set("Authorization", "Bearer "+f.c.credential(r.ID, a))
	w := httptest.NewRecorder()
	f.c.AgentHandler().ServeHTTP(w, req)
	return w.Code, size() - before
}

// cuts counts run r's events saying its output is no longer kept.
func (f *outputFleet) cuts(r *Run) int {
	f.t.Helper()
	evs, err := f.st.Events(context.Background(), r.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if ev.Kind == "output-not-kept" {
			n++
		}
	}
	return n
}

// TestTenantOutputBounded: the output kept for all of a tenant's attempts
// together is bounded (Config.TenantLogLimit), counting what its ended
// runs kept (removed to make room first, outputevict.go), on this server
// and after a restart; a post past the bound, no ended run's output left
// to remove, is answered 200 and keeps nothing, as one past an attempt's own limit is,
// and the attempt's timeline says once why its output ends. Only each
// attempt's output was bounded, and nothing removes it: a tenant that
// submitted, printed 16 MiB and cancelled over and over filled the state
// directory, with the database and the audit log on it.
func TestTenantOutputBounded(t *testing.T) {
	f := newOutputFleet(t, 1000)
	old := f.run("t1", "run-old", Cancelled)
	path := f.c.logPath(old.ID, 1)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, bytes.Repeat([]byte("x"), 300), 0o600); err != nil {
		t.Fatal(err)
	}
	r1, r2 := f.run("t1", "run-one", Running), f.run("t1", "run-two", Running)
	other := f.run("t2", "run-other", Running)
	line := func(n int) []byte { return bytes.Repeat([]byte("y"), n) }
	for _, c := range []struct {
		what string
		r    *Run
		n    int
		kept int64
		cuts int
	}{
		{"the first run's 500 bytes, 300 kept before", r1, 500, 500, 0},
		{"the second run's 500 bytes, 800 kept before: the ended run's 300 removed", r2, 500, 500, 0},
		{"the second run's next 100 bytes, no ended run's output left", r2, 100, 0, 1},
		{"the first run's next 100 bytes", r1, 100, 0, 1},
		{"another tenant's 700 bytes", other, 700, 700, 0},
	} {
		code, kept := f.post(c.r, line(c.n))
		if code != http.StatusOK || kept != c.kept {
			t.Errorf("%s: %d, %d kept; want 200, %d kept", c.what, code, kept, c.kept)
		}
		if got := f.cuts(c.r); got != c.cuts {
			t.Errorf("%s: %d events say the run's output is no longer kept, want %d", c.what, got, c.cuts)
		}
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the ended run's output, removed to make room: %v, want it gone", err)
	}
	// The agent's offsets run on past what was kept: taken, nothing kept.
	a := r2.Attempts[0]
	req := httptest.NewRequest("POST", agentURL("", r2, a, agent.RouteLogs)+"?offset=600", strings.NewReader("z"))
	req.Header.Set("Content-Type", logType)
	req.Header.Set("Authorization", "Bearer "+f.c.credential(r2.ID, a))
	w := httptest.NewRecorder()
	f.c.AgentHandler().ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Errorf("a post past the bytes kept, the tenant's bound reached: %d %s, want 200", w.Code, w.Body)
	}
	f.restart()
	if code, kept := f.post(r1, line(10)); code != http.StatusOK || kept != 0 {
		t.Errorf("after a restart, the first run's 10 bytes: %d, %d kept; want 200, none kept", code, kept)
	}
	r3 := f.run("t1", "run-three", Running)
	if code, kept := f.post(r3, line(10)); code != http.StatusOK || kept != 0 {
		t.Errorf("after a restart, a new run's 10 bytes: %d, %d kept; want 200, none kept", code, kept)
	}
}

// TestTenantOutputBoundedAtOnce: posts of a tenant's attempts at once
// keep no more than the tenant's bound together, each taking its bytes
// from the one count.
func TestTenantOutputBoundedAtOnce(t *testing.T) {
	f := newOutputFleet(t, 1000)
	var runs []*Run
	for i := range 8 {
		runs = append(runs, f.run("t1", fmt.Sprintf("run-%d", i), Running))
	}
	kept := make(chan int64, len(runs))
	for _, r := range runs {
		go func() {
			_, n := f.post(r, bytes.Repeat([]byte("y"), 300))
			kept <- n
		}()
	}
	var sum int64
	for range runs {
		sum += <-kept
	}
	if sum != 1000 {
		t.Errorf("8 posts of 300 bytes at once kept %d bytes, want the bound, 1000", sum)
	}
}
