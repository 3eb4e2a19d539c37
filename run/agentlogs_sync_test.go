package run

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"meridian.dev/meridian/agent"
)

// logPoster posts output to attempt a's log route at the offset the
// server's file has reached, as the attempt's agent; the attempt's rate is
// lifted.
func logPoster(t testing.TB, e *env, base string, r *Run, a Attempt) func(data []byte) (int64, int, string) {
	e.c.mu.Lock()
	e.c.memo(attemptKey(r.ID, a.N), time.Now()).lim = rate.NewLimiter(rate.Inf, 1)
	e.c.mu.Unlock()
	tok := e.c.credential(r.ID, a)
	return func(data []byte) (int64, int, string) {
		var off int64
		if fi, err := os.Stat(e.c.logPath(r.ID, a.N)); err == nil {
			off = fi.Size()
		}
		req, _ := http.NewRequest("POST", agentURL(base, r, a, agent.RouteLogs)+fmt.Sprintf("?offset=%d", off), bytes.NewReader(data))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", logType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		msg, _ := io.ReadAll(resp.Body)
		return off, resp.StatusCode, string(msg)
	}
}

// TestAgentLogsSyncedBeforeAcknowledged: the output an agent posts is on
// disk before the server acknowledges it. It was appended and answered
// 200 unsynced: the agent drops what the server acknowledged, so a power
// loss that took those bytes back lost them for good, and left the file
// short of the agent's next offset, which the server refuses (409) at
// every post after: the rest of the attempt's output was lost too. A sync
// that fails is not acknowledged (500), and the agent posts the same
// bytes again.
func TestAgentLogsSyncedBeforeAcknowledged(t *testing.T) {
	e := newEnv(t, nil)
	r, a := runningAttempt(t, e, jobDoc(100000, 1000), "the attempt to run", func(r *Run) bool { return r.State == Running })
	var synced atomic.Int64
	failing := atomic.Bool{}
	syncLog = func(f *os.File) error {
		if failing.Load() {
			return errors.New("input/output error")
		}
		if err := f.Sync(); err != nil {
			return err
		}
		if fi, err := f.Stat(); err == nil && fi.Size() > synced.Load() {
			synced.Store(fi.Size())
		}
		return nil
	}
	defer func() { syncLog = (*os.File).Sync }()
	post := logPoster(t, e, e.c.cfg.ServerURL, r, a)
	line := bytes.Repeat([]byte("step 1 loss 0.5\n"), 64)
	for i := range 3 {
		off, code, msg := post(line)
		if code != http.StatusOK {
			t.Fatalf("post %d: %d %s", i, code, msg)
		}
		if end := off + int64(len(line)); synced.Load() < end {
			t.Fatalf("post %d: acknowledged %d bytes kept, %d synced", i, end, synced.Load())
		}
	}
	failing.Store(true)
	if _, code, msg := post(line); code == http.StatusOK {
		t.Errorf("a post whose bytes could not be synced: %d %s, want it not acknowledged", code, msg)
	}
}

// BenchmarkAgentLogs64KiB: one post of 64 KiB of an attempt's output.
func BenchmarkAgentLogs64KiB(b *testing.B) {
	e := newEnv(b, func(cfg *Config) { cfg.LogLimit = 1 << 40 })
	ctx := context.Background()
	r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(100000, 1000)}})
	if err != nil {
		b.Fatal(err)
	}
	r = e.waitFor("the attempt to run", 20*time.Second, func(r *Run) bool { return r.State == Running }, r.ID)
	b.Cleanup(func() { e.c.Cancel(ctx, "t1", r.ID) })
	a := r.Attempts[len(r.Attempts)-1]
	srv := httptest.NewServer(e.c.AgentHandler())
	defer srv.Close()
	post := logPoster(b, e, srv.URL, r, a)
	data := bytes.Repeat([]byte("step 1 loss 0.5 tokens/s 1000\n"), 64<<10/30+1)[:64<<10]
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for range b.N {
		if _, code, msg := post(data); code != http.StatusOK {
			b.Fatalf("status %d %s", code, msg)
		}
	}
}

// TestAgentQueryParameterGivenTwiceRefused: an agent's request that gives
// a query parameter twice is refused 400 naming it, before anything is
// kept. The logs route read `offset` from its first and appended there,
// where a proxy in front of the server may have read the last.
func TestAgentQueryParameterGivenTwiceRefused(t *testing.T) {
	e, r, a, size := unlimitedAttempt(t)
	before := size()
	for _, q := range []string{
		fmt.Sprintf("?offset=%d&offset=99999999", before),
		fmt.Sprintf("?offset=99999999&offset=%d", before),
		fmt.Sprintf("?offset=%d&offset=%d", before, before),
	} {
		code, msg, _ := agentPost(t, e, r, a, agent.RouteLogs+q, []byte("injected\n"))
		if code != http.StatusBadRequest || !strings.Contains(msg, `\"offset\"`) {
			t.Errorf("logs%s: %d %s, want 400 naming offset", q, code, msg)
		}
	}
	if got := size(); got != before {
		t.Errorf("refused posts kept %d bytes", got-before)
	}
	if code, msg, _ := agentPost(t, e, r, a, agent.RouteHeartbeat+"?x=1&x=2", []byte(`{}`)); code != http.StatusBadRequest || !strings.Contains(msg, `\"x\"`) {
		t.Errorf("heartbeat with x twice: %d %s, want 400 naming x", code, msg)
	}
	long := strings.Repeat("n", 1000)
	if code, msg, _ := agentPost(t, e, r, a, agent.RouteHeartbeat+"?"+long+"=1&"+long+"=2", []byte(`{}`)); code != http.StatusBadRequest || len(msg) > 300 {
		t.Errorf("a long name twice: %d, %d bytes answered, want 400 quoting at most 64 bytes of it", code, len(msg))
	}
	if code, msg, _ := agentPost(t, e, r, a, agent.RouteLogs+fmt.Sprintf("?offset=%d", size()), []byte("kept\n")); code != http.StatusOK {
		t.Errorf("a post with offset once: %d %s", code, msg)
	}
}

// TestAgentUnknownQueryParameterRefused: an agent's request that gives a
// query parameter its route does not take is refused 400 naming it (quoted,
// cut to 64 bytes) and the parameters the route takes, before the
// credential is read and before anything is kept. Such a parameter was
// ignored without a word.
func TestAgentUnknownQueryParameterRefused(t *testing.T) {
	e, r, a, size := unlimitedAttempt(t)
	before := size()
	for _, q := range []string{
		fmt.Sprintf("?offset=%d&x=1", before),
		fmt.Sprintf("?x=&offset=%d", before),
		fmt.Sprintf("?offset=%d&x", before),
	} {
		code, msg, _ := agentPost(t, e, r, a, agent.RouteLogs+q, []byte("injected\n"))
		if code != http.StatusBadRequest || !strings.Contains(msg, `\"x\"`) || !strings.Contains(msg, "offset") {
			t.Errorf("logs%s: %d %s, want 400 naming x and offset", q, code, msg)
		}
	}
	if got := size(); got != before {
		t.Errorf("refused posts kept %d bytes", got-before)
	}
	for _, c := range []struct{ method, route string }{
		{"GET", agent.RouteManifest},
		{"POST", agent.RouteHeartbeat},
		{"POST", agent.RouteCheckpoint},
		{"POST", agent.RouteExit},
	} {
		code, msg, _ := agentCall(t, e, r, a, c.method, c.route+"?offset=0", []byte(`{}`))
		if code != http.StatusBadRequest || !strings.Contains(msg, `\"offset\"`) || !strings.Contains(msg, "no query parameters") {
			t.Errorf("%s %s?offset=0: %d %s, want 400 naming offset and that the route takes none", c.method, c.route, code, msg)
		}
	}
	if got, _ := e.c.Get(context.Background(), "t1", r.ID); got.State != Running {
		t.Errorf("after a refused exit the run is %v, want still running", got.State)
	}
	long := strings.Repeat("n", 1000)
	if code, msg, _ := agentPost(t, e, r, a, agent.RouteHeartbeat+"?"+long+"=1", []byte(`{}`)); code != http.StatusBadRequest || len(msg) > 300 {
		t.Errorf("a long unknown name: %d, %d bytes answered, want 400 quoting at most 64 bytes of it", code, len(msg))
	}
	// Refused before the credential is read: no credential, still 400.
	req, _ := http.NewRequest("POST", agentURL(e.c.cfg.ServerURL, r, a, agent.RouteHeartbeat)+"?x=1", strings.NewReader(`{}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("heartbeat?x=1 without a credential: %d, want 400", resp.StatusCode)
	}
	if code, msg, _ := agentPost(t, e, r, a, agent.RouteLogs+fmt.Sprintf("?offset=%d", size()), []byte("kept\n")); code != http.StatusOK {
		t.Errorf("a post with offset alone: %d %s", code, msg)
	}
	if code, msg, _ := agentPost(t, e, r, a, agent.RouteHeartbeat, []byte(`{}`)); code != http.StatusOK {
		t.Errorf("a heartbeat without a query: %d %s", code, msg)
	}
}

// unlimitedAttempt is a running attempt whose credential's requests are
// not rate limited, and the size of its output file.
func unlimitedAttempt(t *testing.T) (*env, *Run, Attempt, func() int64) {
	t.Helper()
	e := newEnv(t, nil)
	r, a := runningAttempt(t, e, jobDoc(100000, 1000), "the attempt to run", func(r *Run) bool { return r.State == Running })
	e.c.mu.Lock()
	e.c.memo(attemptKey(r.ID, a.N), time.Now()).lim = rate.NewLimiter(rate.Inf, 1)
	e.c.mu.Unlock()
	size := func() int64 {
		fi, err := os.Stat(e.c.logPath(r.ID, a.N))
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	return e, r, a, size
}
