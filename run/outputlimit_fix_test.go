package run

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"

	"meridian.dev/meridian/agent"
	"meridian.dev/meridian/store"
)

// versionsStore is a store whose RunVersionsAfter may fail (fail) or
// wait (entered is closed at its first call; it then waits for release).
type versionsStore struct {
	store.Store
	calls   atomic.Int32
	fail    error
	entered chan struct{}
	release chan struct{}
}

func (s *versionsStore) RunVersionsAfter(ctx context.Context, tenant, after string, limit int) ([]store.RunVersion, error) {
	if s.calls.Add(1) == 1 && s.entered != nil {
		close(s.entered)
		<-s.release
	}
	if s.fail != nil {
		return nil, s.fail
	}
	return s.Store.RunVersionsAfter(ctx, tenant, after, limit)
}

// withVersions stands f's controller over s, wrapping f's store.
func (f *outputFleet) withVersions(s *versionsStore) {
	s.Store = f.st
	f.cfg.Store = s
	f.c = New(f.cfg)
}

// postAt posts data as run r's output at offset off and answers the
// status.
func (f *outputFleet) postAt(r *Run, off int64, data []byte) int {
	f.t.Helper()
	a := r.Attempts[0]
	req := httptest.NewRequest("POST", agentURL("", r, a, agent.RouteLogs)+fmt.Sprintf("?offset=%d", off), bytes.NewReader(data))
	req.Header.Set("Content-Type", logType)
	req.Header.Set("Authorization", "Bearer "+f.c.credential(r.ID, a))
	w := httptest.NewRecorder()
	f.c.AgentHandler().ServeHTTP(w, req)
	return w.Code
}

// TestAgentLogsCountNotUnderFileLock: a post waiting for its tenant's
// output to be counted does not hold its attempt's file lock. It did, so
// the attempt's other posts waited behind a count of the whole tenant.
func TestAgentLogsCountNotUnderFileLock(t *testing.T) {
	f := newOutputFleet(t, 1000)
	s := &versionsStore{entered: make(chan struct{}), release: make(chan struct{})}
	f.withVersions(s)
	r := f.run("t1", "run-one", Running)
	done := make(chan int, 1)
	go func() { code, _ := f.post(r, []byte("line\n")); done <- code }()
	<-s.entered
	held := lockTaken(f.c.logPath(r.ID, 1))
	close(s.release)
	<-done
	if held {
		t.Error("the attempt's output file is locked while its tenant's output is counted")
	}
}

// TestTenantOutputCountFailureKept: a count of a tenant's output that
// failed is kept a while: ten posts after it count once, not ten times.
// A failed count was forgotten, and every post counted the whole tenant
// again (and was answered 503 after it).
func TestTenantOutputCountFailureKept(t *testing.T) {
	f := newOutputFleet(t, 1000)
	s := &versionsStore{fail: errors.New("the store is down")}
	f.withVersions(s)
	r := f.run("t1", "run-one", Running)
	for i := range 10 {
		if code, _ := f.post(r, []byte("line\n")); code != http.StatusServiceUnavailable {
			t.Errorf("post %d, the count failed: %d, want 503", i, code)
		}
	}
	if n := s.calls.Load(); n != 1 {
		t.Errorf("the tenant's runs were listed %d times for 10 posts, want 1", n)
	}
}

// TestAgentLogsPastCutAfterRestart: a post past the bytes kept of an
// attempt whose output was cut for its tenant's bound is answered 200 and
// keeps nothing on a server that does not see the tenant as full (here a
// restart with a higher bound). It was answered 409, and the agent, which
// takes a 4xx as final, dropped the rest of the attempt's output.
func TestAgentLogsPastCutAfterRestart(t *testing.T) {
	f := newOutputFleet(t, 1000)
	r := f.run("t1", "run-one", Running)
	if code, kept := f.post(r, bytes.Repeat([]byte("y"), 1200)); code != http.StatusOK || kept != 1000 {
		t.Fatalf("1200 bytes past a bound of 1000: %d, %d kept; want 200, 1000 kept", code, kept)
	}
	f.cfg.TenantLogLimit = 1 << 20
	f.restart()
	if code := f.postAt(r, 1200, []byte("more\n")); code != http.StatusOK {
		t.Errorf("after a restart with a higher bound, a post at the agent's offset past the cut: %d, want 200", code)
	}
	if fi, err := os.Stat(f.c.logPath(r.ID, 1)); err != nil || fi.Size() != 1000 {
		t.Errorf("output kept after the post past the cut: %v, %v; want the 1000 bytes of the cut", fi.Size(), err)
	}
}

// TestCutToldWhenItsEventWasLost: a server that crashed between marking
// an attempt's cut and recording its event (or whose store write of it
// failed) never told it: every later post found the mark and took the cut
// as told. A later post past the cut, its tenant still full, records it.
func TestCutToldWhenItsEventWasLost(t *testing.T) {
	f := newOutputFleet(t, 1000)
	r := f.run("t1", "run-one", Running)
	if code, kept := f.post(r, bytes.Repeat([]byte("y"), 1000)); code != http.StatusOK || kept != 1000 {
		t.Fatalf("1000 bytes at a bound of 1000: %d, %d kept; want 200, 1000 kept", code, kept)
	}
	// The crash: the mark made, the event not recorded.
	if err := markCut(f.c.logPath(r.ID, 1)); err != nil {
		t.Fatal(err)
	}
	if code := f.postAt(r, 1200, []byte("more\n")); code != http.StatusOK {
		t.Fatalf("a post past the cut: %d, want 200", code)
	}
	if n := f.cuts(r); n != 1 {
		t.Errorf("%d events saying the output is no longer kept; want 1", n)
	}
}

// TestTenantOutputUnboundedByDefault: a Config that sets no bound on a
// tenant's kept output has none (serve sets DefaultTenantLogLimit): a
// tenant's old output past any size leaves a new run's output kept in
// full, and no post counts the tenant.
func TestTenantOutputUnboundedByDefault(t *testing.T) {
	f := newOutputFleet(t, 0)
	s := &versionsStore{}
	f.withVersions(s)
	old := f.run("t1", "run-old", Running)
	if code, kept := f.post(old, bytes.Repeat([]byte("o"), 4096)); code != http.StatusOK || kept != 4096 {
		t.Fatalf("an old run's output: %d, %d kept; want 200, 4096", code, kept)
	}
	f.restart()
	f.withVersions(s)
	r := f.run("t1", "run-new", Running)
	if code, kept := f.post(r, bytes.Repeat([]byte("n"), 3000)); code != http.StatusOK || kept != 3000 {
		t.Errorf("a new run's output with no bound set: %d, %d kept; want 200, 3000", code, kept)
	}
	if n := s.calls.Load(); n != 0 {
		t.Errorf("the tenant's output counted %d times with no bound set; want never", n)
	}
	if n := f.cuts(r); n != 0 {
		t.Errorf("%d events saying the output is no longer kept; want none", n)
	}
}
