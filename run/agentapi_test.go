package run

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"meridian.dev/meridian/agent"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/internal/pgtest"
	"meridian.dev/meridian/internal/syncbuf"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// TestAgentCheckpointRefusesMalformedDigestAndSize: an agent (run by the
// tenant's site, so not trusted) reports the checkpoint it sealed. Its
// SHA-256 and size go into the run record, its events and, on a move, the
// audit record: a digest that is not one, or a negative or absurd size,
// must be refused with the field named rather than recorded.
func TestAgentCheckpointRefusesMalformedDigestAndSize(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	r, a := runningAttempt(t, e, jobDoc(400, 1000), "the attempt to run", func(r *Run) bool { return r.State == Running })
	const step = 1 << 40 // past any checkpoint the workload writes
	good := agent.CheckpointRef{Step: step, Name: fmt.Sprintf(checkpointName(r.ID, a.N), step), Path: "step-1",
		Bytes: 1234, SHA256: strings.Repeat("0123456789abcdef", 4)}
	post := func(ref agent.CheckpointRef) (int, string) {
		t.Helper()
		body, _ := json.Marshal(ref)
		code, msg, _ := agentPost(t, e, r, a, agent.RouteCheckpoint, body)
		return code, msg
	}
	for _, c := range []struct {
		what  string
		mod   func(*agent.CheckpointRef)
		field string
	}{
		{"no digest", func(f *agent.CheckpointRef) { f.SHA256 = "" }, "sha256"},
		{"text for a digest", func(f *agent.CheckpointRef) { f.SHA256 = strings.Repeat("not a digest ", 2000) }, "sha256"},
		{"a short digest", func(f *agent.CheckpointRef) { f.SHA256 = "0123456789abcdef" }, "sha256"},
		{"an upper-case digest", func(f *agent.CheckpointRef) { f.SHA256 = strings.Repeat("0123456789ABCDEF", 4) }, "sha256"},
		{"a digest of 64 non-hex characters", func(f *agent.CheckpointRef) { f.SHA256 = strings.Repeat("0123456789abcdeg", 4) }, "sha256"},
		{"a negative size", func(f *agent.CheckpointRef) { f.Bytes = -1 }, "bytes"},
		{"a size past the limit", func(f *agent.CheckpointRef) { f.Bytes = agent.MaxCheckpointBytes + 1 }, "bytes"},
	} {
		ref := good
		c.mod(&ref)
		code, msg := post(ref)
		if code != http.StatusBadRequest || !strings.Contains(msg, c.field) {
			t.Errorf("%s: %d %s; want 400 naming %s", c.what, code, msg, c.field)
		}
	}
	got, err := e.c.Get(ctx, "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ck := got.Checkpoint; ck != nil && ck.Step == step {
		t.Fatalf("a refused report was recorded: %+v", ck)
	}
	// The well-formed report is taken: the refusals above were for the
	// fields named, not for the route or the credential.
	if code, msg := post(good); code != http.StatusOK {
		t.Fatalf("well-formed report: %d %s", code, msg)
	}
	got, err = e.c.Get(ctx, "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ck := got.Checkpoint; ck == nil || ck.Step != step || ck.SHA256 != good.SHA256 || ck.Bytes != good.Bytes {
		t.Errorf("after the well-formed report the checkpoint is %+v", ck)
	}
}

// runningAttempt submits doc as tenant t1 and waits until cond holds of the
// run; the run is cancelled and ended when the test ends.
func runningAttempt(t *testing.T, e *env, doc Document, what string, cond func(*Run) bool) (*Run, Attempt) {
	t.Helper()
	ctx := context.Background()
	r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{doc}})
	if err != nil {
		t.Fatal(err)
	}
	r = e.waitFor(what, 20*time.Second, cond, r.ID)
	t.Cleanup(func() {
		e.c.Cancel(ctx, "t1", r.ID)
		e.waitFor("the end", 30*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
	})
	return r, r.Attempts[len(r.Attempts)-1]
}

// agentPost posts body to route as attempt a's agent, with its credential.
func agentPost(t *testing.T, e *env, r *Run, a Attempt, route string, body []byte) (int, string, http.Header) {
	t.Helper()
	return agentCall(t, e, r, a, "POST", route, body)
}

// agentCall is agentPost with any method.
func agentCall(t *testing.T, e *env, r *Run, a Attempt, method, route string, body []byte) (int, string, http.Header) {
	t.Helper()
	return agentCallAt(t, e, e.c.cfg.ServerURL, r, a, method, route, body)
}

// agentCallAt is agentCall to the server at base.
func agentCallAt(t *testing.T, e *env, base string, r *Run, a Attempt, method, route string, body []byte) (int, string, http.Header) {
	t.Helper()
	url := agentURL(base, r, a, route)
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.c.credential(r.ID, a))
	if len(body) > 0 {
		req.Header.Set("Content-Type", agentBodyType(route))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(msg), resp.Header
}

// TestCheckpointsListedAtMostOnceAMinute: a workload that checkpoints many
// times a minute has each checkpoint recorded in its run, and listed in the
// timeline at most once a minute; the next one listed says how many were
// not. With a clock that moves only when told.
func TestCheckpointsListedAtMostOnceAMinute(t *testing.T) {
	clk := &clock{t: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	e := newEnv(t, func(c *Config) { c.Now = clk.Now; c.SiteTimeout = time.Hour })
	ctx := context.Background()
	// A workload that checkpoints every 5 steps; once its agent reported
	// one, the agent is past reading its manifest (whose resume point the
	// reports below would change).
	r, a := runningAttempt(t, e, jobDoc(100000, 5), "the attempt's first checkpoint", func(r *Run) bool { return r.State == Checkpointed })
	post := func(step int64) {
		t.Helper()
		ref := agent.CheckpointRef{Step: step, Name: fmt.Sprintf(checkpointName(r.ID, a.N), step), Path: "step-1",
			Bytes: 1234, SHA256: strings.Repeat("0123456789abcdef", 4)}
		body, _ := json.Marshal(ref)
		if code, msg, _ := agentPost(t, e, r, a, agent.RouteCheckpoint, body); code != http.StatusOK {
			got, _ := e.c.Get(ctx, "t1", r.ID)
			evs, _ := e.c.Events(ctx, "t1", r.ID)
			t.Fatalf("step %d: %d %s\nrun %s: %s\n%+v", step, code, msg, got.State, got.Reason, evs)
		}
	}
	// Past any checkpoint the workload writes itself.
	const base = 1 << 40
	listed := func() []string {
		t.Helper()
		evs, err := e.c.Events(ctx, "t1", r.ID)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, ev := range evs {
			if ev.Kind == "checkpoint" && strings.Contains(ev.Reason, fmt.Sprintf("step %d", base)[:14]) {
				out = append(out, ev.Reason)
			}
		}
		return out
	}
	clk.set(clk.Now().Add(2 * time.Minute))
	for i := range int64(20) {
		post(base + i)
	}
	if got, _ := e.c.Get(ctx, "t1", r.ID); got.Checkpoint == nil || got.Checkpoint.Step != base+19 {
		t.Fatalf("the run's checkpoint is %+v, want step %d", got.Checkpoint, base+19)
	}
	if l := listed(); len(l) != 1 || !strings.Contains(l[0], fmt.Sprintf("step %d ", base)) {
		t.Fatalf("20 checkpoints within a minute listed as %q, want the first only", l)
	}
	clk.set(clk.Now().Add(checkpointListEvery))
	post(base + 20)
	l := listed()
	if len(l) != 2 || !strings.Contains(l[1], fmt.Sprintf("step %d ", base+20)) || !strings.Contains(l[1], "19 more since the last listed") {
		t.Errorf("a minute later: %q, want the new one listed with the 19 not listed", l)
	}
}

// TestAgentRequestsAreBounded: a holder of an attempt's credential (the
// site that runs it) that sends requests as fast as it can gets 429 with
// Retry-After past the attempt's burst, so that it cannot make the server
// write to its store more than agentRate times a second; the same
// credential is answered again once the bucket refills, and the attempt's
// own agent rides it out.
func TestAgentRequestsAreBounded(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	r, a := runningAttempt(t, e, jobDoc(100000, 1000), "the attempt to run", func(r *Run) bool { return r.State == Running })
	beat := func() (int, string) {
		t.Helper()
		code, _, h := agentPost(t, e, r, a, agent.RouteHeartbeat, []byte("{}"))
		return code, h.Get("Retry-After")
	}
	start := time.Now()
	ok, limited := 0, 0
	for range 3 * agentBurst {
		switch code, after := beat(); code {
		case http.StatusOK:
			ok++
		case http.StatusTooManyRequests:
			limited++
			if after == "" {
				t.Fatal("429 without Retry-After")
			}
		default:
			t.Fatalf("heartbeat: %d", code)
		}
	}
	elapsed := time.Since(start)
	if most := agentBurst + int(agentRate*elapsed.Seconds()) + 1; limited == 0 || ok > most {
		t.Fatalf("%d answered and %d limited in %s: want at most %d answered", ok, limited, elapsed, most)
	}
	time.Sleep(time.Second)
	if code, _ := beat(); code != http.StatusOK {
		t.Errorf("a second later: %d", code)
	}
	// The workload's own agent, limited along with the flood, is still
	// heard: the run goes on.
	if got, _ := e.c.Get(ctx, "t1", r.ID); got.State != Running {
		t.Errorf("after the flood the run is %s: %s", got.State, got.Reason)
	}
}

// TestFencedExitIsToldOnce: an exit the agent reports after stopping the
// workload for its lease goes on the timeline once, however often the
// site posts it, and is not taken as the workload's own exit.
func TestFencedExitIsToldOnce(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	r, a := runningAttempt(t, e, jobDoc(100000, 1000), "the attempt to run", func(r *Run) bool { return r.State == Running })
	for range 5 {
		if code, body, _ := agentPost(t, e, r, a, agent.RouteExit, []byte(`{"code": 143, "fenced": true}`)); code != http.StatusOK {
			t.Fatalf("fenced exit: %d %s", code, body)
		}
	}
	cur, err := e.c.Get(ctx, "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range cur.Attempts {
		if at.N == a.N && (at.Exit != nil || !at.Fenced) {
			t.Errorf("attempt %d: exit %v, fenced %v; want no exit and fenced", at.N, at.Exit, at.Fenced)
		}
	}
	evs, err := e.c.Events(ctx, "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	told := 0
	for _, ev := range evs {
		if ev.Kind == "agent-exit" {
			told++
			if !strings.Contains(ev.Reason, "stopped its workload") {
				t.Errorf("agent-exit %q, want it to say the agent stopped the workload", ev.Reason)
			}
		}
	}
	if told != 1 {
		t.Errorf("%d agent-exit events for five posts, want 1", told)
	}
}

// TestLostExitIsNoWorkloadExit: an exit the agent reports with lost (it
// could not end every process the workload started) was recorded as the
// workload's own end, exit code 0 here: the attempt read as finished. It
// now goes on the timeline once, saying so, and is not the workload's exit.
func TestLostExitIsNoWorkloadExit(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	r, a := runningAttempt(t, e, jobDoc(100000, 1000), "the attempt to run", func(r *Run) bool { return r.State == Running })
	for range 3 {
		if code, body, _ := agentPost(t, e, r, a, agent.RouteExit, []byte(`{"code": 0, "lost": true}`)); code != http.StatusOK {
			t.Fatalf("lost exit: %d %s", code, body)
		}
	}
	cur, err := e.c.Get(ctx, "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if x := exitOf(cur); x != nil {
		t.Errorf("exit recorded: %d; want none", *x)
	}
	evs, err := e.c.Events(ctx, "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	told := 0
	for _, ev := range evs {
		if ev.Kind == "agent-exit" {
			told++
			if !strings.Contains(ev.Reason, "could not end every process") {
				t.Errorf("agent-exit %q, want it to say the agent could not end the workload's processes", ev.Reason)
			}
		}
	}
	if told != 1 {
		t.Errorf("%d agent-exit events for three posts, want 1", told)
	}
}

// TestSiteTextStoredOnPostgres: what an agent or a site says goes into the
// run's timeline, which PostgreSQL keeps as text, refusing a NUL and a
// character cut in two. An exit's detail is cut to 500 bytes, once in the
// middle of a character; a site's status reason may carry a NUL (a pod's
// termination message is the workload's to write). Either made the write
// fail, every time it was tried: the exit was never recorded, the run never
// left the state the site had ended.
func TestSiteTextStoredOnPostgres(t *testing.T) {
	pg, err := store.OpenPostgres(context.Background(), pgtest.NewDatabase(t), store.Options{AuditKey: []byte("test key 0123456")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close() })
	e := newEnv(t, func(c *Config) {
		c.Store = pg
		c.Stager.Ledger = transfer.AuditLedger{Store: pg}
	})
	ctx := context.Background()
	r, a := runningAttempt(t, e, jobDoc(100000, 1000), "the attempt to run", func(r *Run) bool { return r.State == Running })
	detail := strings.Repeat("a", 499) + "データ" // byte 500 is inside デ
	body, _ := json.Marshal(agent.Exit{Code: 3, Detail: detail})
	if code, msg, _ := agentPost(t, e, r, a, agent.RouteExit, body); code != http.StatusOK {
		t.Fatalf("exit report with a %d-byte detail: %d %s", len(detail), code, msg)
	}
	got, err := e.c.Get(ctx, "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if x := exitOf(got); x == nil || *x != 3 {
		t.Fatalf("exit recorded: %v, want 3", x)
	}
	if _, err := e.c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		ch.Events = append(ch.Events, store.Event{Kind: "site-lost", Reason: "pod p disrupted: \x00\xff"})
		return nil
	}); err != nil {
		t.Fatalf("an event carrying a site's NUL and a byte that is not UTF-8: %v", err)
	}
}

// TestFinishingProgressSavedOnce: an agent's progress is saved at most once
// a second, and its finishing report once more; a holder of the
// credential that sends every report as finishing, each with a new step,
// costs the store no more writes than that. With a clock that does not
// move.
func TestFinishingProgressSavedOnce(t *testing.T) {
	clk := &clock{t: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	e := newEnv(t, func(c *Config) { c.Now = clk.Now; c.SiteTimeout = time.Hour })
	ctx := context.Background()
	r, a := runningAttempt(t, e, jobDoc(100000, 100000), "the attempt to run", func(r *Run) bool { return r.State == Running })
	version := func() int64 {
		t.Helper()
		row, err := e.st.GetRun(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		return row.Version
	}
	before := version()
	for i := range 30 {
		body, _ := json.Marshal(agent.Heartbeat{Phase: "finishing", Progress: &agent.Progress{Step: int64(1_000_000 + i), Steps: 2_000_000}})
		if code, msg, _ := agentPost(t, e, r, a, agent.RouteHeartbeat, body); code != http.StatusOK {
			t.Fatalf("heartbeat %d: %d %s", i, code, msg)
		}
	}
	if got, _ := e.c.Get(ctx, "t1", r.ID); got.Progress == nil || got.Progress.Step < 1_000_000 {
		t.Fatalf("the finishing progress was not saved: %+v", got.Progress)
	}
	if writes := version() - before; writes > 2 {
		t.Errorf("30 finishing reports within a second wrote the run %d times, want at most 2", writes)
	}
}

// TestBadAgentCredentialsBounded: an attempt credential is checked against
// its run, read whole from the store, before any attempt's limit applies;
// past a burst of credentials that fail from one address, that address is
// answered 429 without the read, while the attempt's own agent is still
// heard from it: also when this server has not seen its credential work
// (a restart, another replica, a new attempt), which it took for a forged
// one, so that a workload flooding bad credentials from a cluster's
// egress address failed every other run's agent behind it.
func TestBadAgentCredentialsBounded(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	r, a := runningAttempt(t, e, jobDoc(100000, 1000), "the attempt to run", func(r *Run) bool { return r.State == Running })
	post := func(token string) int {
		t.Helper()
		url := agentURL(e.c.cfg.ServerURL, r, a, agent.RouteHeartbeat)
		req, _ := http.NewRequest("POST", url, strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", reportType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(e.c.credential(r.ID, a)); code != http.StatusOK {
		t.Fatalf("the attempt's own credential: %d", code)
	}
	// An attempt begun by a server before credentials carried their
	// nonce has the MAC alone: it still works, checked against the run.
	if code := post(e.c.credentialV1(r.ID, a)); code != http.StatusOK {
		t.Fatalf("the attempt's credential in its first form: %d", code)
	}
	if code := post(e.c.credentialV1(r.ID, Attempt{N: a.N, Nonce: a.Nonce + "0"})); code != http.StatusUnauthorized {
		t.Fatalf("a credential in its first form for another nonce: %d, want 401", code)
	}
	start := time.Now()
	refused, limited := 0, 0
	forged := func(i int) string {
		if i%2 == 0 {
			return fmt.Sprintf("forged-%d", i)
		}
		// The form of a real one: a nonce and a MAC, not the key's.
		return fmt.Sprintf("%032x.%064x", i, i)
	}
	for i := range 3 * agentFailBurst {
		switch code := post(forged(i)); code {
		case http.StatusUnauthorized: // read the run to find it forged
			refused++
		case http.StatusTooManyRequests:
			limited++
		default:
			t.Fatalf("forged credential: %d", code)
		}
	}
	if most := int(agentFailBurst + agentFailRate*time.Since(start).Seconds() + 1); limited == 0 || refused > most {
		t.Errorf("%d forged credentials: %d read the run and were refused, %d answered 429; want at most %d reads", 3*agentFailBurst, refused, limited, most)
	}
	if code := post(e.c.credential(r.ID, a)); code != http.StatusOK {
		t.Errorf("the attempt's own credential during the flood: %d", code)
	}
	e.c.mu.Lock()
	e.c.dropMemo(attemptKey(r.ID, a.N))
	e.c.mu.Unlock()
	for i := 0; post(forged(i)) != http.StatusTooManyRequests; i++ {
		if i > 10*agentFailBurst {
			t.Fatal("the address is not blocked again")
		}
	}
	if code := post(e.c.credential(r.ID, a)); code != http.StatusOK {
		t.Errorf("the attempt's own credential during the flood, on a server that has not seen it work: %d, want 200", code)
	}
	if got, _ := e.c.Get(ctx, "t1", r.ID); got.State != Running {
		t.Errorf("after the flood the run is %s: %s", got.State, got.Reason)
	}
}

// runsDown fails GetRun, naming the database as PostgreSQL's errors do,
// while down is set.
type runsDown struct {
	store.Store
	down *atomic.Bool
}

func (r runsDown) GetRun(ctx context.Context, id string) (*store.Run, error) {
	if r.down.Load() {
		return nil, errors.New("failed to connect to `host=db.internal user=meridian database=meridian`: connection refused")
	}
	return r.Store.GetRun(ctx, id)
}

// RunVersionOf fails as GetRun does: a heartbeat reads the run's version,
// and its row only when the version is not the one it read last (briefAt),
// so with this read up the answer depended on whether the agent's own
// heartbeats had read the run at its version already.
func (r runsDown) RunVersionOf(ctx context.Context, id string) (string, int64, error) {
	if r.down.Load() {
		return "", 0, errors.New("failed to connect to `host=db.internal user=meridian database=meridian`: connection refused")
	}
	return r.Store.RunVersionOf(ctx, id)
}

// TestAgentStoreErrorTellsNoInternals: an agent request the store cannot
// check is answered 503 with Retry-After, which agents retry, and the
// store's error (the database's host and user) goes to the server's log,
// not to the caller, who has shown no valid credential yet.
func TestAgentStoreErrorTellsNoInternals(t *testing.T) {
	var down atomic.Bool
	e := newEnv(t, func(c *Config) { c.Store = runsDown{Store: c.Store, down: &down} })
	r, a := runningAttempt(t, e, jobDoc(100000, 1000), "the attempt to run", func(r *Run) bool { return r.State == Running })
	down.Store(true)
	defer down.Store(false)
	code, msg, h := agentPost(t, e, r, a, agent.RouteHeartbeat, []byte("{}"))
	if code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" || strings.Contains(msg, "db.internal") || strings.Contains(msg, "user=") {
		t.Errorf("store down: %d %q (Retry-After %q), want 503 naming nothing of the store", code, msg, h.Get("Retry-After"))
	}
}

// TestEndedCredentialBounded: the credential of an attempt that ended
// works no more (410), and whoever holds it (the site that ran it) can
// make the server read the run once, however often it tries: each of its
// requests cost a read of the run, documents and all, up to agentRate a
// second, for ever.
func TestEndedCredentialBounded(t *testing.T) {
	var whole atomic.Int64
	e := newEnv(t, func(c *Config) { c.Store = wholeReads{Store: c.Store, n: &whole} })
	r, a := cancelledAttempt(t, e)
	before := whole.Load()
	for range 3 * agentBurst {
		if code, msg, _ := agentPost(t, e, r, a, agent.RouteHeartbeat, []byte("{}")); code != http.StatusGone || !strings.Contains(msg, "has ended (cancelled)") {
			t.Fatalf("the ended attempt's heartbeat: %d %s; want 410 naming its end", code, msg)
		}
	}
	// One read finds the attempt ended. The attempt's own agent, stopped
	// by the cancel, may still send its last output and exit code within
	// its grace, a read each, while the loop runs: the bound allows them
	// (each request read the run before, 180 here).
	if reads := whole.Load() - before; reads > 3 {
		t.Errorf("%d requests with an ended attempt's credential: %d reads of the run; want at most 3", 3*agentBurst, reads)
	}
}

// cancelledAttempt runs an attempt and cancels its run, to its end.
func cancelledAttempt(t *testing.T, e *env) (*Run, Attempt) {
	t.Helper()
	r, a := runningAttempt(t, e, jobDoc(100000, 1000), "the attempt to run", func(r *Run) bool { return r.State == Running })
	if _, err := e.c.Cancel(context.Background(), "t1", r.ID); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the end", 30*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
	return r, a
}

// TestEndedOldCredentialBounded: an ended attempt's credential in the
// older form (the MAC alone, handed out before credentials carried their
// nonce) cannot be told ended without reading the run, and each request
// with it read the run, documents and all, with no bound: it did not count
// against its address. It now counts as a failure does (a burst, then
// agentFailRate a second), and is then refused before the read.
func TestEndedOldCredentialBounded(t *testing.T) {
	var whole atomic.Int64
	e := newEnv(t, func(c *Config) { c.Store = wholeReads{Store: c.Store, n: &whole} })
	r, a := cancelledAttempt(t, e)
	url := agentURL(e.c.cfg.ServerURL, r, a, agent.RouteHeartbeat)
	before, start := whole.Load(), time.Now()
	const sent = 3 * agentFailBurst
	gone, limited := 0, 0
	for range sent {
		req, _ := http.NewRequest("POST", url, strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer "+e.c.credentialV1(r.ID, a))
		req.Header.Set("Content-Type", reportType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusGone:
			gone++
		case http.StatusTooManyRequests:
			limited++
		default:
			t.Fatalf("an ended attempt's old-form credential: %d", resp.StatusCode)
		}
	}
	allowed := int64(agentFailBurst) + int64(agentFailRate*time.Since(start).Seconds()) + 1
	if reads := whole.Load() - before; reads > allowed || gone == 0 || limited == 0 {
		t.Errorf("%d requests with an ended attempt's old-form credential: %d reads of the run (want at most %d), %d answered 410, %d 429", sent, reads, allowed, gone, limited)
	}
}

// TestEndedCredentialsReadOnce: a tenant keeps the credential of every
// attempt its workloads ever ran; with several ended attempts it made the
// server read whole runs agentRate times a second for each. Each ended
// attempt's credential now costs one read, on the request that finds it
// ended; the rest are refused before any read. The exit route, which
// takes an ended attempt's last words for logGrace, still reads and
// answers until then.
func TestEndedCredentialsReadOnce(t *testing.T) {
	var whole, asked atomic.Int64
	e := newEnv(t, func(c *Config) { c.Store = wholeReads{Store: c.Store, n: &whole, v: &asked} })
	type ran struct {
		r *Run
		a Attempt
	}
	var runs []ran
	for range 3 { // one after the other: the pool takes one at a time
		r, a := cancelledAttempt(t, e)
		runs = append(runs, ran{r, a})
	}
	before := whole.Load()
	const each = 40
	gone, limited := 0, 0
	for range each {
		for _, x := range runs {
			switch code, msg, _ := agentPost(t, e, x.r, x.a, agent.RouteHeartbeat, []byte("{}")); code {
			case http.StatusGone:
				gone++
			case http.StatusTooManyRequests:
				limited++
			default:
				t.Fatalf("an ended attempt's heartbeat: %d %s", code, msg)
			}
		}
	}
	if reads := whole.Load() - before; gone != each*len(runs) || reads > int64(len(runs)) {
		t.Errorf("%d requests with the credentials of %d ended attempts: %d answered 410, %d 429, %d reads of their runs; want all 410 and at most %d reads", each*len(runs), len(runs), gone, limited, reads, len(runs))
	}
	// Within logGrace the exit route still asks the store for the run (its
	// version, and the run whole when this server has not read that
	// version) and answers.
	before = whole.Load() + asked.Load()
	if code, msg, _ := agentPost(t, e, runs[0].r, runs[0].a, agent.RouteExit, []byte(`{"code": 143}`)); code != http.StatusOK {
		t.Errorf("an ended attempt's exit within its grace: %d %s; want 200", code, msg)
	}
	if whole.Load()+asked.Load() == before {
		t.Error("the exit within its grace was answered without reading the run")
	}
}

// TestAgentMemosBounded: the runs remembered with attempts ended are at
// most maxEnded, the one found longest ago forgotten first; and past
// maxRemembered, a new attempt's memo drops the least recently used one
// that is a minute old, keeping those in use.
func TestAgentMemosBounded(t *testing.T) {
	c := &Controller{cfg: Config{Now: time.Now}}
	for i := range maxEnded + 10 {
		c.agentEnd(&Run{ID: fmt.Sprint("r", i), State: Cancelled, Attempt: 1}, 1)
	}
	if n := len(c.endedAgents); n != maxEnded || c.endedOrder.Len() != maxEnded {
		t.Errorf("%d runs found ended: %d remembered (%d in order); want %d", maxEnded+10, n, c.endedOrder.Len(), maxEnded)
	}
	if _, gone := c.agentEnded("r0", 1, false); gone {
		t.Error("the first run found ended is still remembered past the bound")
	}
	if st, gone := c.agentEnded(fmt.Sprint("r", maxEnded+9), 1, false); !gone || st != "cancelled" {
		t.Errorf("the last run found ended: %q, %v; want cancelled, true", st, gone)
	}

	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range maxRemembered {
		used := now // in use, but for the first two
		if i < 2 {
			used = now.Add(-2 * time.Minute)
		}
		c.memo(fmt.Sprint("a", i), used)
	}
	c.memo("new", now)
	_, first := c.agents["a0"]
	_, second := c.agents["a1"]
	if len(c.agents) != maxRemembered || c.agentOrder.Len() != maxRemembered || first || !second {
		t.Errorf("a new memo past the bound: %d memos (%d in order), the oldest kept %v, the next %v; want %d, the oldest dropped", len(c.agents), c.agentOrder.Len(), first, second, maxRemembered)
	}
	c.memo("newer", now)
	c.memo("newest", now)
	if _, second = c.agents["a1"]; second || len(c.agents) != maxRemembered+1 {
		t.Errorf("%d memos, the second oldest kept %v; want it dropped, and the memos in use kept (%d)", len(c.agents), second, maxRemembered+1)
	}
}

// TestCheckpointNamesAreTheAttempts: each attempt seals its checkpoints
// under names of its own, so that an earlier attempt still running at the
// same site (past its lease, say) cannot overwrite, under the same name,
// the checkpoint the run resumes from. The server takes an attempt's
// report under its own names only; an attempt begun before attempts had
// their own names (no ownCheckpointNames in its record) under the run's
// older names only.
func TestCheckpointNamesAreTheAttempts(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	r, a := runningAttempt(t, e, jobDoc(400, 1000), "the attempt to run", func(r *Run) bool { return r.State == Running })
	if !a.OwnCheckpointNames {
		t.Fatalf("a new attempt: %+v, want ownCheckpointNames", a)
	}
	m, err := e.c.manifest(ctx, r, a)
	if err != nil {
		t.Fatal(err)
	}
	next := Attempt{N: a.N + 1, Site: a.Site, Nonce: a.Nonce, OwnCheckpointNames: true}
	mNext, err := e.c.manifest(ctx, r, next)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf(m.CheckpointName, 7) == fmt.Sprintf(mNext.CheckpointName, 7) {
		t.Fatalf("attempts %d and %d seal step 7 under one name, %q", a.N, next.N, fmt.Sprintf(m.CheckpointName, 7))
	}
	post := func(name string, step int64) (int, string) {
		t.Helper()
		body, _ := json.Marshal(agent.CheckpointRef{Step: step, Name: name, Path: "step-1", Bytes: 1234, SHA256: strings.Repeat("0123456789abcdef", 4)})
		code, msg, _ := agentPost(t, e, r, a, agent.RouteCheckpoint, body)
		return code, msg
	}
	const step = 1 << 40
	legacy := legacyCheckpointName(r.ID)
	if code, msg := post(fmt.Sprintf(mNext.CheckpointName, step), step); code != http.StatusBadRequest {
		t.Errorf("a report under another attempt's name: %d %s, want 400", code, msg)
	}
	if code, msg := post(fmt.Sprintf(legacy, step), step); code != http.StatusBadRequest {
		t.Errorf("a new attempt's report under the run's older names: %d %s, want 400", code, msg)
	}
	if code, msg := post(fmt.Sprintf(m.CheckpointName, step), step); code != http.StatusOK {
		t.Errorf("a report under the attempt's own name: %d %s", code, msg)
	}
	// The same attempt as an older server recorded it.
	if _, err := e.c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		r.Attempts[len(r.Attempts)-1].OwnCheckpointNames = false
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if old, err := e.c.manifest(ctx, r, Attempt{N: a.N, Site: a.Site, Nonce: a.Nonce}); err != nil || old.CheckpointName != legacy {
		t.Errorf("an older attempt's manifest names %q (%v), want %q", old.CheckpointName, err, legacy)
	}
	if code, msg := post(fmt.Sprintf(legacy, step+1), step+1); code != http.StatusOK {
		t.Errorf("an older attempt's report under the run's older names: %d %s", code, msg)
	}
	if code, msg := post(fmt.Sprintf(m.CheckpointName, step+2), step+2); code != http.StatusBadRequest {
		t.Errorf("an older attempt's report under a new attempt's names: %d %s, want 400", code, msg)
	}
}

// TestAgentFaultNamesNoServerDetail: an agent's report that meets a fault
// of the server's (its database failing) is answered without the error's
// text, which the agent writes into the run's output for the tenant to
// read; the answer names a fault id, which the server's log carries with
// the error.
func TestAgentFaultNamesNoServerDetail(t *testing.T) {
	var fu *failingUpdates
	var logged syncbuf.Buffer
	e := newEnv(t, func(c *Config) {
		fu = &failingUpdates{Store: c.Store}
		c.Store = fu
		c.Logger = slog.New(slog.NewTextHandler(&logged, nil))
	})
	r, a := runningAttempt(t, e, jobDoc(400, 1000), "the attempt to run", func(r *Run) bool { return r.State == Running })
	fu.fail.Store(true)
	defer fu.fail.Store(false)
	const step = 1 << 40
	body, _ := json.Marshal(agent.CheckpointRef{Step: step, Name: fmt.Sprintf(checkpointName(r.ID, a.N), step), Path: "step-1", Bytes: 1234, SHA256: strings.Repeat("0123456789abcdef", 4)})
	code, msg, _ := agentPost(t, e, r, a, agent.RouteCheckpoint, body)
	if code < 500 {
		t.Fatalf("a checkpoint report while the store fails: %d %s, want a 5xx", code, msg)
	}
	if strings.Contains(msg, "disk I/O error") {
		t.Errorf("the answer carries the store's error: %s", msg)
	}
	id := regexp.MustCompile(`fault ([0-9a-f]{12})`).FindStringSubmatch(msg)
	if id == nil {
		t.Fatalf("the answer names no fault id: %s", msg)
	}
	if log := logged.String(); !strings.Contains(log, "fault="+id[1]) || !strings.Contains(log, "disk I/O error") {
		t.Errorf("the server's log lacks fault %s with its error:\n%s", id[1], log)
	}
}

// TestAgentCredentialMACOnce: an agent's credential is checked by its MAC
// once, on the first request this server sees it make; its later requests,
// vouched for by the credential remembered with the attempt's nonce, cost
// no MAC (each cost two: one before the read of the run, one after).
// Credentials that are not the attempt's are still refused, however the
// remembered one is.
//
// The attempt's own agent talks to the server through a gate that the test
// shuts before it counts: the MACs its requests cost (one whenever the
// test's credential in the first form was remembered last) would otherwise
// be counted with the test's own.
func TestAgentCredentialMACOnce(t *testing.T) {
	e, r, a := gatedAgentEnv(t, nil)
	own := httptest.NewServer(e.c.AgentHandler())
	defer own.Close()
	key := attemptKey(r.ID, a.N)
	e.c.mu.Lock()
	e.c.dropMemo(key) // as on a server that has not seen the agent yet
	e.c.mu.Unlock()
	get := func(tok string) int {
		t.Helper()
		url := agentURL(own.URL, r, a, agent.RouteManifest)
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	cred := e.c.credential(r.ID, a)
	before := e.c.credentialMACs.Load()
	if code := get(cred); code != http.StatusOK {
		t.Fatalf("the attempt's credential: %d", code)
	}
	if n := e.c.credentialMACs.Load() - before; n != 1 {
		t.Errorf("the first request with the credential computed %d MACs, want 1", n)
	}
	before = e.c.credentialMACs.Load()
	for range 10 {
		if code := get(cred); code != http.StatusOK {
			t.Fatalf("the attempt's credential again: %d", code)
		}
	}
	if n := e.c.credentialMACs.Load() - before; n != 0 {
		t.Errorf("10 more requests with the credential computed %d MACs, want none", n)
	}
	// Others are refused beside it: another nonce's credential, one of
	// another attempt, a forged MAC for the attempt's nonce.
	for _, tok := range []string{
		e.c.credential(r.ID, Attempt{N: a.N, Nonce: a.Nonce + "0"}),
		e.c.credentialV1(r.ID, Attempt{N: a.N, Nonce: a.Nonce + "0"}),
		e.c.credential(r.ID, Attempt{N: a.N + 1, Nonce: a.Nonce}),
		a.Nonce + "." + strings.Repeat("0", 64),
		strings.Repeat("0", 64),
	} {
		if code := get(tok); code != http.StatusUnauthorized {
			t.Errorf("credential %.20s…: %d, want 401", tok, code)
		}
	}
	// The first form (the MAC alone) still works, and once seen costs
	// none either.
	v1 := e.c.credentialV1(r.ID, a)
	if code := get(v1); code != http.StatusOK {
		t.Fatalf("the credential in its first form: %d", code)
	}
	before = e.c.credentialMACs.Load()
	if code := get(v1); code != http.StatusOK {
		t.Fatalf("the credential in its first form again: %d", code)
	}
	if n := e.c.credentialMACs.Load() - before; n != 0 {
		t.Errorf("the credential in its first form, seen before, computed %d MACs, want none", n)
	}
}

// agentGate serves the agent API of c to the attempts' agents until shut:
// shut waits for the requests it let through to be answered, and answers
// those after it 503 (which an agent waits out) without reaching c.
type agentGate struct {
	c      atomic.Pointer[Controller]
	mu     sync.RWMutex
	closed bool
}

func (g *agentGate) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if c := g.c.Load(); c != nil && !g.closed {
		c.AgentHandler().ServeHTTP(w, req)
		return
	}
	w.Header().Set("Retry-After", "1")
	agentErr(w, http.StatusServiceUnavailable, "shut for the test")
}

func (g *agentGate) shut() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

func (g *agentGate) open() {
	g.mu.Lock()
	g.closed = false
	g.mu.Unlock()
}

// BenchmarkAgentGet is an agent's whole call, GET of its manifest over a
// real connection to the agent API on a SQLite store, with the attempt's
// credential (the attempt's bucket set aside, which would answer 429
// past 60).
//
//	go test ./run -run '^$' -bench AgentGet -benchtime 2000x
func BenchmarkAgentGet(b *testing.B) {
	e := newEnv(b, nil)
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
	url := agentURL(srv.URL, r, a, agent.RouteManifest)
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+e.c.credential(r.ID, a))
	do := func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	do()
	e.c.mu.Lock()
	e.c.agents[attemptKey(r.ID, a.N)].lim = rate.NewLimiter(rate.Inf, 1)
	e.c.mu.Unlock()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		do()
	}
}

// longHistory gives run id n earlier attempts before its own, each with
// the manifests of three datasets, as a run that moved often has.
func longHistory(t testing.TB, e *env, id string, n int) {
	t.Helper()
	_, err := e.c.update(context.Background(), id, func(r *Run, ch *store.Change) error {
		old := make([]Attempt, 0, n+len(r.Attempts))
		for i := range n {
			sum := fmt.Sprintf("%064x", i)
			old = append(old, Attempt{N: 100000 + i, Site: "alpha", Handle: fmt.Sprintf("job-%d", i), Nonce: sum[:32],
				Manifests: map[string]string{"corpus": sum, "eval": sum, "tokenizer": sum}, StagedBytes: 1 << 30})
		}
		r.Attempts = append(old, r.Attempts...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestAgentCallsReadRunByVersion: an agent's heartbeats and posts of
// output, several a second for as long as its workload runs, read the
// run's version and not the run itself while it has not changed (each
// decoded the run whole, documents and every attempt of its history);
// a change to the run (a cancel) is in the next answer, and a credential
// the run has moved past is refused at once.
func TestAgentCallsReadRunByVersion(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	r, a := runningAttempt(t, e, jobDoc(100000, 1000), "the attempt to run", func(r *Run) bool { return r.State == Running })
	longHistory(t, e, r.ID, 500)
	// A second server on the same store answers the calls, so that only
	// its reads are counted, not those of the first one's loop.
	var whole atomic.Int64
	cfg := e.c.cfg
	cfg.Store = wholeReads{Store: cfg.Store, n: &whole}
	srv := httptest.NewServer(New(cfg).AgentHandler())
	defer srv.Close()
	post := func(route string, body []byte) (int, string) {
		t.Helper()
		url := agentURL(srv.URL, r, a, route)
		req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.c.credential(r.ID, a))
		req.Header.Set("Content-Type", agentBodyType(route))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		msg, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(msg)
	}
	versions := map[int64]bool{}
	seen := func() {
		if _, v, err := e.st.RunVersionOf(ctx, r.ID); err == nil {
			versions[v] = true
		}
	}
	hb, _ := json.Marshal(agent.Heartbeat{})
	for i := range 20 {
		seen()
		if code, msg := post(agent.RouteHeartbeat, hb); code != http.StatusOK {
			t.Fatalf("heartbeat %d: %d %s", i, code, msg)
		}
		if code, msg := post(agent.RouteLogs+"?offset=0", nil); code != http.StatusOK {
			t.Fatalf("post of output %d: %d %s", i, code, msg)
		}
	}
	seen()
	if n := whole.Load(); n > int64(len(versions)) {
		t.Errorf("40 calls of the agent read its run whole %d times, over %d versions of it; want at most once a version", n, len(versions))
	}
	// A cancel is in the next heartbeat's answer.
	if _, err := e.c.Cancel(ctx, "t1", r.ID); err != nil {
		t.Fatal(err)
	}
	code, msg := post(agent.RouteHeartbeat, hb)
	var reply agent.Reply
	if code != http.StatusOK || json.Unmarshal([]byte(msg), &reply) != nil || !reply.Stop {
		t.Errorf("the heartbeat after a cancel: %d %s, want stop", code, msg)
	}
	// Once the run has ended, a heartbeat of its attempt is refused.
	e.waitFor("the end", 30*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
	if code, msg := post(agent.RouteHeartbeat, hb); code != http.StatusGone {
		t.Errorf("a heartbeat of the ended run: %d %s, want 410", code, msg)
	}
}

// BenchmarkAgentHeartbeat is an agent's heartbeat (no progress to save)
// over a real connection to the agent API on a SQLite store, for a run
// with a history of earlier attempts.
//
//	go test ./run -run '^$' -bench AgentHeartbeat -benchtime 2000x
func BenchmarkAgentHeartbeat(b *testing.B) {
	for _, n := range []int{0, 2000} {
		b.Run(fmt.Sprintf("attempts=%d", n+1), func(b *testing.B) {
			e := newEnv(b, nil)
			ctx := context.Background()
			r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(100000, 1000)}})
			if err != nil {
				b.Fatal(err)
			}
			r = e.waitFor("the attempt to run", 20*time.Second, func(r *Run) bool { return r.State == Running }, r.ID)
			b.Cleanup(func() { e.c.Cancel(ctx, "t1", r.ID) })
			a := r.Attempts[len(r.Attempts)-1]
			if n > 0 {
				longHistory(b, e, r.ID, n)
			}
			srv := httptest.NewServer(e.c.AgentHandler())
			defer srv.Close()
			url := agentURL(srv.URL, r, a, agent.RouteHeartbeat)
			body, _ := json.Marshal(agent.Heartbeat{})
			tok := e.c.credential(r.ID, a)
			do := func() {
				req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+tok)
				req.Header.Set("Content-Type", reportType)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
			do()
			e.c.mu.Lock()
			e.c.agents[attemptKey(r.ID, a.N)].lim = rate.NewLimiter(rate.Inf, 1)
			e.c.mu.Unlock()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				do()
			}
		})
	}
}

// uidDown fails TenantUID, as a database that cannot be reached does,
// while down is set.
type uidDown struct {
	store.Store
	down *atomic.Bool
}

func (u uidDown) TenantUID(ctx context.Context, tenant string, base int) (int, error) {
	if u.down.Load() {
		return 0, errors.New("connection refused")
	}
	return u.Store.TenantUID(ctx, tenant, base)
}

// TestManifestStoreDownIsUnavailable: a manifest the server cannot make
// for want of its store is answered 503 (the server unavailable, which the
// agent waits out), not 500, which the agent now reads as the attempt's
// own setup failing.
func TestManifestStoreDownIsUnavailable(t *testing.T) {
	var down atomic.Bool
	e := newEnv(t, func(c *Config) {
		c.Store = uidDown{Store: c.Store, down: &down}
		c.Sandbox.Mode = agent.SandboxUID
	})
	r, a := runningAttempt(t, e, jobDoc(100000, 1000), "the attempt to run", func(r *Run) bool { return r.State == Running })
	down.Store(true)
	defer down.Store(false)
	if code, msg, _ := agentCall(t, e, r, a, "GET", agent.RouteManifest, nil); code != http.StatusServiceUnavailable {
		t.Errorf("manifest with the store down: %d %q, want 503", code, msg)
	}
}

// TestAgentReportKeyGivenTwiceRefused: an agent's report is written beside
// the workload, which may write it: a key given twice (encoding/json took
// the last, where a log or a proxy may read the first) or data after the
// report is refused, and the attempt's exit is not taken from it.
func TestAgentReportKeyGivenTwiceRefused(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	r, a := runningAttempt(t, e, jobDoc(100000, 1000), "the attempt to run", func(r *Run) bool { return r.State == Running })
	for _, body := range []string{
		`{"code": 0, "code": 3}`,
		`{"code": 0, "Code": 3}`,
		`{"code": 3} {"code": 0}`,
		`{"Code": 3}`,
		`{"code": 0, "cOde": 3}`,
	} {
		code, msg, _ := agentPost(t, e, r, a, agent.RouteExit, []byte(body))
		if code != http.StatusBadRequest {
			t.Errorf("exit %s: %d %s, want 400", body, code, msg)
		}
	}
	cur, err := e.c.Get(ctx, "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range cur.Attempts {
		if at.N == a.N && at.Exit != nil {
			t.Errorf("attempt %d took exit %d from a refused report", at.N, *at.Exit)
		}
	}
	if code, msg, _ := agentPost(t, e, r, a, agent.RouteHeartbeat, []byte(`{}`)); code != http.StatusOK {
		t.Errorf("a plain heartbeat after them: %d %s", code, msg)
	}
}

// TestAgentRefusalsBounded: an agent's request that gives its credential
// twice is refused 400 before either is read, whichever comes first; and
// a checkpoint report's refusal quotes at most 80 bytes of its name and
// path. Before, the first credential was taken (a proxy in front may
// have checked the last), and a name or path of 60 KiB was answered
// whole, into the run's output the agent writes answers to.
func TestAgentRefusalsBounded(t *testing.T) {
	e := newEnv(t, nil)
	r, a := runningAttempt(t, e, jobDoc(400, 1000), "the attempt to run", func(r *Run) bool { return r.State == Running })
	good := "Bearer " + e.c.credential(r.ID, a)
	for _, auth := range [][]string{{good, "Bearer x"}, {"Bearer x", good}, {good, good}} {
		req, _ := http.NewRequest("GET", agentURL(e.c.cfg.ServerURL, r, a, agent.RouteManifest), nil)
		req.Header["Authorization"] = auth
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(msg), "Authorization") {
			t.Errorf("the credential given twice (%.12q first): %d %.200s, want 400 naming Authorization", auth[0], resp.StatusCode, msg)
		}
	}
	long := strings.Repeat("n", 60<<10)
	const step = 1 << 40
	for _, ref := range []agent.CheckpointRef{
		{Step: step, Name: long, Path: "step-1", Bytes: 1, SHA256: strings.Repeat("0123456789abcdef", 4)},
		{Step: step, Name: fmt.Sprintf(checkpointName(r.ID, a.N), step), Path: long, Bytes: 1, SHA256: strings.Repeat("0123456789abcdef", 4)},
	} {
		body, _ := json.Marshal(ref)
		code, msg, _ := agentPost(t, e, r, a, agent.RouteCheckpoint, body)
		if code != http.StatusBadRequest || len(msg) > 512 {
			t.Errorf("a report of %d bytes of name and %d of path: %d, %d bytes answered: %.200s", len(ref.Name), len(ref.Path), code, len(msg), msg)
		}
	}
	// The credential given once works.
	if code, msg, _ := agentCall(t, e, r, a, "GET", agent.RouteManifest, nil); code != http.StatusOK {
		t.Errorf("the credential given once: %d %.200s", code, msg)
	}
}

// TestAgentToldOfScratchVolumeOnKubernetesOnly: a Kubernetes site's
// scratch is the pod's own emptyDir, root's and 0777, which an agent that
// is not root refused in every landlock attempt. The server now tells the
// agent so in the manifest (Sandbox.ScratchVolume), for Kubernetes sites
// whatever their sandbox, and for no other backend, whose scratch lies on
// a path other users may share.
func TestAgentToldOfScratchVolumeOnKubernetesOnly(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Sandbox.Mode = agent.SandboxUID })
	for _, tc := range []struct {
		backend catalog.BackendSpec
		want    bool
	}{
		{catalog.BackendSpec{Type: catalog.BackendKubernetes}, true},
		{catalog.BackendSpec{Type: catalog.BackendKubernetes, Sandbox: agent.SandboxUID}, true},
		{catalog.BackendSpec{Type: catalog.BackendKubernetes, Sandbox: agent.SandboxNone}, true},
		{catalog.BackendSpec{Type: catalog.BackendLocal}, false},
		{catalog.BackendSpec{Type: catalog.BackendLocal, Sandbox: agent.SandboxLandlock}, false},
		{catalog.BackendSpec{Type: catalog.BackendSlurm}, false},
		{catalog.BackendSpec{Type: catalog.BackendSlurm, RestURL: "https://slurm.example:6820"}, false},
	} {
		site := &catalog.Site{Spec: catalog.SiteSpec{Backend: tc.backend}}
		sb, err := e.c.agentSandbox(context.Background(), "t1", site)
		if err != nil {
			t.Fatalf("backend %s (sandbox %q): %v", tc.backend.Type, tc.backend.Sandbox, err)
		}
		if sb.ScratchVolume != tc.want {
			t.Errorf("backend %s (sandbox %q): the agent told the scratch is its own volume: %v, want %v", tc.backend.Type, tc.backend.Sandbox, sb.ScratchVolume, tc.want)
		}
		if sb.Mode == agent.SandboxUID && sb.UID == 0 {
			t.Errorf("backend %s (sandbox %q): sandbox uid with no tenant user", tc.backend.Type, tc.backend.Sandbox)
		}
	}
}
