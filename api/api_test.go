package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"meridian.dev/meridian/agent"
	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/backend"
	_ "meridian.dev/meridian/backend/local" // registers "local"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/internal/testplan"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
)

const (
	tokA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	tokB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

const jobYAML = `apiVersion: meridian.dev/v1alpha1
kind: Organization
metadata: {name: lab}
spec: {headquarters: SG}
---
apiVersion: meridian.dev/v1alpha1
kind: TrainingJob
metadata: {name: tiny}
spec:
  organization: lab
  model: {parameters: 1.0e6}
  method: pretrain
  tokens: 1.0e6
  workload: {command: [/bin/sh, -c, "echo step=1 loss=2 tokens_per_s=3; sleep 60"]}
`

// The test binary doubles as the site agent (first argument "__agent").
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "__agent" {
		os.Exit(agent.MainAs("__agent", os.Args[2:]))
	}
	os.Exit(m.Run())
}

// fixtureStore is what a fixture's store does: SQLite's or PostgreSQL's.
type fixtureStore interface {
	store.Store
	store.Tokens
	AuditReader
}

type fixture struct {
	srv *httptest.Server
	st  fixtureStore
	c   *run.Controller
	h   *Server
	// hs serves h when the fixture was made with limits (a real
	// http.Server from NewHTTPServer).
	hs *http.Server
	// dir is the controller's state directory.
	dir string
	// base is how many audit entries the fixture's own setup wrote (the
	// tokens it added); counts reports those after it.
	base int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureWith(t, fixtureOptions{})
}

// fixtureOptions change what newFixtureWith builds.
type fixtureOptions struct {
	// Limits, when set, serve the API with NewHTTPServer and these limits
	// (its timeouts) instead of httptest's server, which has none.
	Limits *Limits
	// Streams are the API's stream limits.
	Streams Streams
	// Hide, when set, wraps the controller the API sees (to take a
	// capability away).
	Hide func(Controller) Controller
	// Postgres, when set, is the URL of an empty database the fixture keeps
	// its state in, instead of a SQLite file.
	Postgres string
	// RateLimit is the tenants' rate limit (none when zero).
	RateLimit RateLimit
	// Store, when set, wraps the store the controller is given (to count
	// its reads).
	Store func(fixtureStore) fixtureStore
	// Witnessed gives the controller the audit log's chain, as a server
	// has: runs are confirmed against their sealed records.
	Witnessed bool
}

func newFixtureWith(t testing.TB, o fixtureOptions) *fixture {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		os.Chmod(d, 0o711) // workloads run as another user pass through
	}
	var st fixtureStore
	var err error
	if o.Postgres != "" {
		st, err = store.OpenPostgres(context.Background(), o.Postgres, store.Options{AuditKey: []byte("0123456789abcdef")})
	} else {
		st, err = store.OpenSQLite(context.Background(), filepath.Join(dir, "m.db"), store.Options{AuditKey: []byte("0123456789abcdef")})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if o.Store != nil {
		st = o.Store(st)
	}
	var h *Server
	var srv *httptest.Server
	var ln net.Listener
	if o.Limits == nil {
		srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
		t.Cleanup(srv.Close)
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv = &httptest.Server{URL: "http://" + ln.Addr().String()}
	}
	exe, _ := os.Executable()
	var chain *audit.Chain
	if o.Witnessed {
		chain = audit.NewChain([]byte("0123456789abcdef"))
	}
	c := run.New(run.Config{AuditChain: chain, Store: st, StateDir: dir, CatalogDir: "testdata/sites", Plan: testplan.Cheapest,
		Backends: func(site *catalog.Site, root string) (backend.Backend, error) {
			return backend.For(site.Spec.Backend, root)
		},
		ServerURL: srv.URL, AgentKey: []byte("agent key for api tests 01234567"),
		AgentCommand: func(*catalog.Site) []string { return []string{exe, "__agent"} },
		Heartbeat:    200 * time.Millisecond,
		// An agent whose run a test leaves running stops its workload and
		// exits about a minute after the test's server closes (the lease,
		// twice the 30 s silence limit, then its grace), not 10 minutes.
		AgentLease: time.Minute})
	addTokens(t, st, Token{Tenant: "a", Token: tokA}, Token{Tenant: "b", Token: tokB})
	var api Controller = c
	if o.Hide != nil {
		api = o.Hide(c)
	}
	h = New(api, Options{Tokens: st, Audit: st, Streams: o.Streams, RateLimit: o.RateLimit})
	f := &fixture{srv: srv, st: st, c: c, h: h, dir: dir}
	if o.Limits != nil {
		hs, lln := NewHTTPServer(h, ln, *o.Limits)
		go hs.Serve(lln)
		t.Cleanup(func() { hs.Close() })
		f.hs = hs
	}
	_, f.base = f.counts(t)
	return f
}

// addTokens stores tenants' tokens (hashed) as an admin would.
func addTokens(t testing.TB, st store.Tokens, ts ...Token) {
	t.Helper()
	for _, tk := range ts {
		if _, err := AddToken(context.Background(), st, tk.Tenant, tk.Token, false, "test", "test"); err != nil {
			t.Fatal(err)
		}
	}
}

func (f *fixture) counts(t testing.TB) (int, int) {
	runs, err := f.st.ListRuns(context.Background(), store.ListOptions{AllTenants: true})
	if err != nil {
		t.Fatal(err)
	}
	es, err := f.st.AuditEntries(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	return len(runs), len(es) - f.base
}

func (f *fixture) raw(t *testing.T, method, path, token, body string) (int, Error) {
	t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", BodyType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var e struct {
		Error Error `json:"error"`
	}
	if resp.StatusCode >= 400 {
		if err := json.Unmarshal(data, &e); err != nil {
			t.Fatalf("%s %s: error body is not JSON: %q", method, path, data)
		}
	}
	return resp.StatusCode, e.Error
}

var routes = []struct{ method, path string }{
	{"GET", "/v1/healthz"}, {"POST", "/v1/runs"}, {"GET", "/v1/runs"}, {"GET", "/v1/runs/x"},
	{"GET", "/v1/runs/x/events"}, {"GET", "/v1/runs/x/logs"}, {"POST", "/v1/runs/x/cancel"},
	{"GET", "/v1/audit"}, {"GET", "/v1/audit/verify"}, {"GET", "/nowhere"},
	{"POST", "/v1/resources"}, {"GET", "/v1/resources"}, {"PUT", "/v1/datasets/x/key"},
}

func TestEveryRouteNeedsToken(t *testing.T) {
	f := newFixture(t)
	for _, r := range routes {
		for _, tok := range []string{"", "wrong", tokA + "x", "Basic " + tokA} {
			t.Run(r.method+r.path+"/"+tok, func(t *testing.T) {
				code, e := f.raw(t, r.method, r.path, tok, `{}`)
				if code != http.StatusUnauthorized || e.Code != "unauthorized" || e.Message == "" {
					t.Errorf("got %d %+v, want 401 unauthorized", code, e)
				}
			})
		}
	}
	if n, a := f.counts(t); n != 0 || a != 0 {
		t.Errorf("unauthenticated requests wrote %d runs, %d audit entries", n, a)
	}
}

func TestTenantsAreIsolated(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a := NewClient(f.srv.URL, tokA)
	b := NewClient(f.srv.URL, tokB)
	r, err := a.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: jobYAML}}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Tenant != "a" || r.Site != "alpha" {
		t.Fatalf("run %+v", r)
	}
	checks := map[string]func() error{
		"get":    func() error { _, err := b.Get(ctx, r.ID); return err },
		"events": func() error { _, err := b.Events(ctx, r.ID); return err },
		"logs":   func() error { _, _, err := b.Logs(ctx, r.ID, 0); return err },
		"cancel": func() error { _, err := b.Cancel(ctx, r.ID); return err },
		"audit":  func() error { _, err := b.Audit(ctx, r.ID); return err },
	}
	for name, call := range checks {
		t.Run(name, func(t *testing.T) {
			var se *StatusError
			if err := call(); !errors.As(err, &se) || se.Status != http.StatusNotFound {
				t.Errorf("tenant b: got %v, want 404", err)
			}
		})
	}
	if l, err := b.List(ctx); err != nil || len(l) != 0 {
		t.Errorf("tenant b lists %d runs (%v)", len(l), err)
	}
	if es, err := b.Audit(ctx, ""); err != nil || len(es) != 0 {
		t.Errorf("tenant b reads %d audit entries (%v)", len(es), err)
	}
	if l, err := a.List(ctx); err != nil || len(l) != 1 {
		t.Errorf("tenant a lists %d runs (%v)", len(l), err)
	}
	if es, err := a.Audit(ctx, r.ID); err != nil || len(es) < 2 {
		t.Errorf("tenant a reads %d audit entries (%v)", len(es), err)
	}
	got, _ := a.Get(ctx, r.ID)
	if got.State != run.Planned || got.CancelRequested {
		t.Errorf("tenant b's cancel reached the run: %+v", got)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	f := newFixture(t)
	good, _ := json.Marshal(run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: jobYAML}}})
	tests := []struct {
		name, method, path, body string
		status                   int
		code, field              string
	}{
		{"malformed json", "POST", "/v1/runs", `{"documents": [`, 400, "malformed", ""},
		{"not an object", "POST", "/v1/runs", `[1,2]`, 400, "malformed", ""},
		{"unknown field", "POST", "/v1/runs", `{"documents": [], "colour": "red"}`, 400, "malformed", "colour"},
		{"trailing data", "POST", "/v1/runs", string(good) + `{}`, 400, "malformed", ""},
		{"empty body", "POST", "/v1/runs", ``, 400, "malformed", ""},
		{"no documents", "POST", "/v1/runs", `{"documents": []}`, 400, "invalid", "documents"},
		{"bad yaml", "POST", "/v1/runs", `{"documents": [{"name": "x", "content": "kind: ["}]}`, 400, "invalid", "documents"},
		{"bad date", "POST", "/v1/runs", strings.Replace(string(good), `{"documents"`, `{"asOf": "tomorrow", "documents"`, 1), 400, "invalid", "asOf"},
		{"rank too high", "POST", "/v1/runs", strings.Replace(string(good), `{"documents"`, `{"placement": 7, "documents"`, 1), 400, "invalid", "placement"},
		{"oversized", "POST", "/v1/runs", `{"documents": [{"name": "x", "content": "` + strings.Repeat("a", MaxBodyBytes) + `"}]}`, 413, "too_large", "body"},
		{"unknown run", "GET", "/v1/runs/run-000000000000", "", 404, "not_found", ""},
		{"unknown run events", "GET", "/v1/runs/nope/events", "", 404, "not_found", ""},
		{"unknown run cancel", "POST", "/v1/runs/nope/cancel", "", 404, "not_found", ""},
		{"unknown run logs", "GET", "/v1/runs/nope/logs", "", 404, "not_found", ""},
		{"bad offset", "GET", "/v1/runs/nope/logs?offset=-4", "", 400, "invalid", "offset"},
		{"empty logs page", "GET", "/v1/runs/nope/logs?limit=0", "", 400, "invalid", "limit"},
		{"logs page too large", "GET", fmt.Sprintf("/v1/runs/nope/logs?limit=%d", MaxLogPage+1), "", 400, "invalid", "limit"},
		{"negative top", "POST", "/v1/plans?top=-1", "", 400, "invalid", "top"},
		{"unknown audit run", "GET", "/v1/audit?run=nope", "", 404, "not_found", "run"},
		{"negative audit after", "GET", "/v1/audit?after=-1", "", 400, "invalid", "after"},
		{"audit page too large", "GET", fmt.Sprintf("/v1/audit?limit=%d", MaxAuditPage+1), "", 400, "invalid", "limit"},
		{"empty audit page", "GET", "/v1/audit?limit=0", "", 400, "invalid", "limit"},
		{"audit limit not a number", "GET", "/v1/audit?limit=ten", "", 400, "invalid", "limit"},
		{"wrong method", "DELETE", "/v1/runs", "", 405, "method_not_allowed", ""},
		{"no route", "GET", "/v2/whatever", "", 404, "not_found", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, e := f.raw(t, tc.method, tc.path, tokA, tc.body)
			if code != tc.status {
				t.Fatalf("status %d (%+v), want %d", code, e, tc.status)
			}
			if tc.code != "" && (e.Code != tc.code || e.Field != tc.field || e.Message == "") {
				t.Errorf("error %+v, want code %s field %q", e, tc.code, tc.field)
			}
		})
	}
	if n, a := f.counts(t); n != 0 || a != 0 {
		t.Errorf("bad input wrote %d runs, %d audit entries", n, a)
	}
}

func TestRoundTrip(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.c.Run(ctx)
	a := NewClient(f.srv.URL, tokA)
	req := run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: jobYAML}}, IdempotencyKey: "once"}
	r1, err := a.Submit(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := a.Submit(ctx, req)
	if err != nil || r2.ID != r1.ID {
		t.Fatalf("retry gave %s (%v), want %s", r2.ID, err, r1.ID)
	}
	deadline := time.Now().Add(20 * time.Second)
	var logs []byte
	for time.Now().Before(deadline) {
		logs, _, err = a.Logs(ctx, r1.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(logs), "step=1") {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(string(logs), "=== attempt 1 at alpha ===\nstep=1 loss=2 tokens_per_s=3\n") {
		t.Fatalf("logs %q", logs)
	}
	for time.Now().Before(deadline) {
		if got, err := a.Get(ctx, r1.ID); err != nil || got.State == run.Running {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	tail, size, err := a.Logs(ctx, r1.ID, 10)
	if err != nil || size != int64(len(logs)) || string(tail) != string(logs[10:]) {
		t.Errorf("offset read %q size %d (%v)", tail, size, err)
	}
	if _, err := a.Cancel(ctx, r1.ID); err != nil {
		t.Fatal(err)
	}
	for time.Now().Before(deadline) {
		got, err := a.Get(ctx, r1.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State.Final() {
			if got.State != run.Cancelled {
				t.Fatalf("state %s", got.State)
			}
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	evs, err := a.Events(ctx, r1.ID)
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, e := range evs {
		if e.Kind == "state" {
			states = append(states, e.To)
		}
	}
	if diff := cmp.Diff([]string{"staging", "queued", "running", "cancelled"}, states); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
	res, err := a.Verify(ctx)
	if err != nil || !res.OK {
		t.Errorf("verify %+v %v", res, err)
	}
}

func TestImportTokensFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "m.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n, secret, err := ImportTokensFile(ctx, st, dir); n != 0 || secret != "" || err != nil {
		t.Fatalf("no file: %d %q %v", n, secret, err)
	}
	b, _ := json.Marshal(map[string]any{"tokens": []Token{{Tenant: "alpha", Token: tokA}, {Tenant: "default", Token: tokB}}})
	if err := os.WriteFile(filepath.Join(dir, TokensFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
	n, secret, err := ImportTokensFile(ctx, st, dir)
	if err != nil || n != 2 || secret != tokB {
		t.Fatalf("import: %d %q %v", n, secret, err)
	}
	if _, err := os.Stat(filepath.Join(dir, TokensFile)); !os.IsNotExist(err) {
		t.Errorf("tokens.json left behind: %v", err)
	}
	a := NewAuth(st)
	if p, ok, err := a.Principal(ctx, tokB); err != nil || !ok || p.Tenant != "default" || !p.Admin {
		t.Errorf("default's token: %+v %v %v", p, ok, err)
	}
	if p, ok, err := a.Principal(ctx, tokA); err != nil || !ok || p.Tenant != "alpha" || p.Admin {
		t.Errorf("alpha's token: %+v %v %v", p, ok, err)
	}
	if _, ok, _ := a.Principal(ctx, ""); ok {
		t.Error("empty token accepted")
	}
	// The table keeps hashes only.
	list, _ := st.ListTokens(ctx)
	for _, tk := range list {
		if tk.Hash == tokA || tk.Hash == tokB || strings.Contains(tk.Note, tokA) {
			t.Errorf("a secret is stored: %+v", tk)
		}
	}
	// A second file once the table has tokens is refused, not merged.
	b, _ = json.Marshal(map[string]any{"tokens": []Token{{Tenant: "gamma", Token: strings.Repeat("c", 40)}}})
	os.WriteFile(filepath.Join(dir, TokensFile), b, 0o600)
	if _, _, err := ImportTokensFile(ctx, st, dir); err == nil {
		t.Error("a tokens.json beside a filled table was imported")
	}
}

// BenchmarkSubmit measures run submissions accepted into durable state
// through the whole API: HTTP, authentication, decoding, building the world
// from the job's YAML, planning, and the SQLite transaction (run row,
// idempotency key, event, plan, decision and state audit entries). The
// "cheapest" planner isolates Meridian's own path; "planner" adds the real
// planner with the built-in law packs.
func BenchmarkSubmit(b *testing.B) {
	eng, err := policy.Builtin()
	if err != nil {
		b.Fatal(err)
	}
	law := planner.PolicyLaw(eng)
	real := func(ctx context.Context, w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
		return planner.Make(w, job, planner.Options{AsOf: asOf, ExcludeSites: exclude, Rules: law})
	}
	for _, bc := range []struct {
		name string
		plan run.Planner
	}{{"cheapest", testplan.Cheapest}, {"planner", real}} {
		b.Run(bc.name, func(b *testing.B) { benchSubmit(b, bc.plan) })
	}
}

func benchSubmit(b *testing.B, plan run.Planner) {
	dir := b.TempDir()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "m.db"), store.Options{AuditKey: []byte("0123456789abcdef")})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	c := run.New(run.Config{Store: st, StateDir: dir, CatalogDir: "testdata/sites", Plan: plan,
		Backends: func(site *catalog.Site, root string) (backend.Backend, error) {
			return backend.For(site.Spec.Backend, root)
		}})
	addTokens(b, st, Token{Tenant: "a", Token: tokA})
	srv := httptest.NewServer(New(c, Options{Tokens: st, Audit: st}))
	defer srv.Close()
	req := run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: jobYAML}}}
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		cl := NewClient(srv.URL, tokA)
		for pb.Next() {
			if _, err := cl.Submit(context.Background(), req); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "runs/s")
}

// FuzzSubmitBody posts arbitrary bodies: the server must answer 201 or a
// 4xx JSON error, never panic or fail with 5xx. Its rate limits are off,
// so a 429 is a failure too: with the default audited limit every input
// after the first 120 was answered 429, its body never read.
func FuzzSubmitBody(f *testing.F) {
	dir := f.TempDir()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "m.db"), store.Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	c := run.New(run.Config{Store: st, StateDir: dir, CatalogDir: "testdata/sites", Plan: testplan.Cheapest,
		Backends: func(site *catalog.Site, root string) (backend.Backend, error) {
			return backend.For(site.Spec.Backend, root)
		}})
	addTokens(f, st, Token{Tenant: "a", Token: tokA})
	h := New(c, Options{Tokens: st, Audit: st, AuditedRateLimit: &RateLimit{}})
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", "/v1/runs", strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer "+tokA)
		req.Header.Set("Content-Type", BodyType)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusCreated && (rec.Code < 400 || rec.Code >= 500 || rec.Code == http.StatusTooManyRequests) {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body.String())
		}
		if rec.Code >= 400 && !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("error body is not JSON: %q", rec.Body.String())
		}
	})
}

// FuzzReadTokensFile reads arbitrary token files: no panic, and every
// token accepted is long enough and maps to a valid tenant name.
func FuzzReadTokensFile(f *testing.F) {
	f.Add([]byte(`{"tokens": [{"tenant": "a", "token": "` + tokA + `"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), TokensFile)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		list, err := ReadTokensFile(path)
		if err != nil {
			return
		}
		for _, e := range list {
			if len(e.Token) < 32 || !ValidTenant(e.Tenant) {
				t.Fatalf("accepted %+v", e)
			}
		}
	})
}

// TestTokenCheckFailureTellsNoInternals: when the token store fails, a
// caller, who has shown no valid token yet, learns that the server cannot
// check tokens now and nothing of the store's own error (on PostgreSQL it
// names the database's host, user and database); the server's log has it.
func TestTokenCheckFailureTellsNoInternals(t *testing.T) {
	f := newFixture(t)
	var log bytes.Buffer
	f.h.opts.Logger = slog.New(slog.NewTextHandler(&log, nil))
	if err := f.st.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{tokA, "not-a-token-0000000000000000000000000000"} {
		status, e := f.raw(t, "GET", "/v1/healthz", tok, "")
		if status != http.StatusServiceUnavailable {
			t.Fatalf("status %d (%+v), want 503", status, e)
		}
		if strings.Contains(e.Message, "closed") || strings.Contains(e.Message, "sql") {
			t.Errorf("the answer to a caller not yet authenticated carries the store's error: %q", e.Message)
		}
	}
	if !strings.Contains(log.String(), "database is closed") {
		t.Errorf("the server's log does not have the store's error:\n%s", log.String())
	}
}

// stallTokens is the fixture's token table, but a lookup of the token
// with hash stall waits, after reading the table, until release closes.
type stallTokens struct {
	store.Tokens
	stall   string
	once    sync.Once
	read    chan struct{}
	release chan struct{}
}

func (s *stallTokens) TokenByHash(ctx context.Context, h string) (*store.Token, error) {
	t, err := s.Tokens.TokenByHash(ctx, h)
	if h == s.stall {
		s.once.Do(func() {
			close(s.read)
			<-s.release
		})
	}
	return t, err
}

// TestRevocationBeatsLookupInFlight: a request whose token was read from
// the table just before an admin revoked it may pass, but it must not
// leave the token in the server's cache: on the server that revoked, the
// next request with the token is refused at once.
func TestRevocationBeatsLookupInFlight(t *testing.T) {
	f := newFixture(t)
	const tokOps = "ops-admin-token-0000000000000000000000000"
	if _, err := AddToken(context.Background(), f.st, "ops", tokOps, true, "test admin", "test"); err != nil {
		t.Fatal(err)
	}
	st := &stallTokens{Tokens: f.st, stall: store.HashToken(tokB), read: make(chan struct{}), release: make(chan struct{})}
	h := New(f.c, Options{Tokens: st, Audit: f.st})
	srv := httptest.NewServer(h)
	defer srv.Close()
	first := make(chan int, 1)
	go func() {
		_, err := NewClient(srv.URL, tokB).Health(context.Background())
		var se *StatusError
		if errors.As(err, &se) {
			first <- se.Status
			return
		}
		first <- http.StatusOK
	}()
	<-st.read
	if _, err := NewClient(srv.URL, tokOps).RevokeTenant(context.Background(), "b", ""); err != nil {
		t.Fatal(err)
	}
	close(st.release)
	<-first
	_, err := NewClient(srv.URL, tokB).Health(context.Background())
	var se *StatusError
	if !errors.As(err, &se) || se.Status != http.StatusUnauthorized {
		t.Errorf("a request with tenant b's token after its revocation: %v, want 401", err)
	}
}

// TestRevokeKeepsAnAdmin: the revocation route refuses (409) to revoke the
// only live admin token, answers 404 naming what has no live token, and
// revokes a tenant's token otherwise.
func TestRevokeKeepsAnAdmin(t *testing.T) {
	f := newFixture(t)
	const tokOps = "ops-admin-token-0000000000000000000000000"
	if _, err := AddToken(context.Background(), f.st, "ops", tokOps, true, "test admin", "test"); err != nil {
		t.Fatal(err)
	}
	if code, e := f.raw(t, "DELETE", "/v1/tenants/ops", tokOps, ""); code != http.StatusConflict || !strings.Contains(e.Message, "last admin") {
		t.Fatalf("revoking the only admin: %d %+v, want 409", code, e)
	}
	if code, e := f.raw(t, "DELETE", "/v1/tenants/nobody?token=abc", tokOps, ""); code != http.StatusNotFound || !strings.Contains(e.Message, "nobody has no live token abc") {
		t.Fatalf("revoking what does not exist: %d %+v, want 404 naming it", code, e)
	}
	if code, e := f.raw(t, "DELETE", "/v1/tenants/b", tokOps, ""); code != http.StatusOK {
		t.Fatalf("revoking tenant b: %d %+v", code, e)
	}
	if code, _ := f.raw(t, "GET", "/v1/runs", tokB, ""); code != http.StatusUnauthorized {
		t.Fatalf("tenant b's token after its revocation: %d, want 401", code)
	}
}

// TestAuditPages reads the audit log a page at a time: every page holds at
// most limit entries, the pages together are what the client reads whole,
// and each tenant's view is the one it had before there were pages.
func TestAuditPages(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a, b := NewClient(f.srv.URL, tokA), NewClient(f.srv.URL, tokB)
	sub := run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: jobYAML}}}
	ra, err := a.Submit(ctx, sub)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := b.Submit(ctx, sub)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Submit(ctx, sub); err != nil {
		t.Fatal(err)
	}
	log := audit.NewLog(f.st)
	// The server's own entry, and one of a's run and one of b's from
	// before entries named their tenant.
	if err := log.AppendFor(ctx, "", audit.KindState, rb.ID, 3); err != nil {
		t.Fatal(err)
	}
	if err := log.AppendFor(ctx, "", "law-check", "", 1); err != nil {
		t.Fatal(err)
	}
	if err := log.AppendFor(ctx, "", audit.KindState, ra.ID, 2); err != nil {
		t.Fatal(err)
	}
	chain, err := f.st.AuditEntries(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	page := func(query string) AuditList {
		t.Helper()
		req, _ := http.NewRequest("GET", f.srv.URL+"/v1/audit?"+query, nil)
		req.Header.Set("Authorization", "Bearer "+tokA)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var l AuditList
		if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&l) != nil {
			t.Fatalf("%s: status %d", query, resp.StatusCode)
		}
		return l
	}
	pages := func(query string) []audit.Entry {
		t.Helper()
		var all []audit.Entry
		var after int64
		for n := 0; ; n++ {
			if n > len(chain) {
				t.Fatalf("%s: more pages than entries", query)
			}
			l := page(fmt.Sprintf("%s&limit=2&after=%d", query, after))
			if len(l.Entries) > 2 {
				t.Fatalf("%s: %d entries on a page of 2", query, len(l.Entries))
			}
			all = append(all, l.Entries...)
			if l.Next == 0 {
				if len(l.Entries) == 2 {
					t.Fatalf("%s: a full page without next", query)
				}
				return all
			}
			after = l.Next
		}
	}

	var want []int64
	for _, e := range chain {
		if e.Tenant == "a" || e.Tenant == "" && e.RunID == ra.ID {
			want = append(want, e.Seq)
		}
	}
	seqs := func(es []audit.Entry) []int64 {
		var out []int64
		for _, e := range es {
			out = append(out, e.Seq)
		}
		return out
	}
	whole, err := a.Audit(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, seqs(whole)); d != "" {
		t.Errorf("a's entries (-want +got):\n%s", d)
	}
	if d := cmp.Diff(want, seqs(pages("run="))); d != "" {
		t.Errorf("a's entries in pages of 2 (-want +got):\n%s", d)
	}

	// The whole chain: every entry, others' and the server's as hashes.
	everything := pages("all=1")
	if len(everything) != len(chain) {
		t.Fatalf("all=1 in pages: %d entries, the chain has %d", len(everything), len(chain))
	}
	for i, e := range everything {
		mine := chain[i].Tenant == "a" || chain[i].Tenant == "" && chain[i].RunID == ra.ID
		if e.Seq != chain[i].Seq || e.Hash != chain[i].Hash || e.Redacted == mine {
			t.Errorf("all=1 entry %d: seq %d redacted %v, tenant %q run %q", i, e.Seq, e.Redacted, chain[i].Tenant, chain[i].RunID)
		}
	}
	if l := page("all=1&limit=1&after=" + fmt.Sprint(chain[len(chain)-1].Seq)); l.Entries == nil || len(l.Entries) != 0 || l.Next != 0 {
		t.Errorf("after the head: %+v, want an empty list", l)
	}
}

// TestAuditLegacyLogPages: on a log from before entries named their
// tenant (another tenant's run's entries, without a tenant, all of it but
// the end), a page of the tenant's entries looks at a window of the
// entries without a tenant, not the rest of the log, and names the next
// page even when the window held none of the tenant's; the client reads
// on to the tenant's entry at the end.
func TestAuditLegacyLogPages(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a := NewClient(f.srv.URL, tokA)
	for _, r := range []*store.Run{{ID: "old-a", Tenant: "a"}, {ID: "old-b", Tenant: "b"}} {
		r.Job, r.State, r.Data = "j", "done", []byte(`{}`)
		if _, _, err := f.st.CreateRun(ctx, r, "", store.Change{}); err != nil {
			t.Fatal(err)
		}
	}
	const w = store.AuditUntenantedWindow
	var recs []audit.Record
	for i := 0; i <= w+5; i++ {
		run := "old-b"
		if i == w+5 {
			run = "old-a"
		}
		r, err := audit.NewRecord(audit.KindState, run, i)
		if err != nil {
			t.Fatal(err)
		}
		if recs = append(recs, r); len(recs) == 1000 || i == w+5 {
			if err := f.st.AppendAudit(ctx, recs...); err != nil {
				t.Fatal(err)
			}
			recs = nil
		}
	}
	chain, err := f.st.AuditEntries(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var untenanted []int64
	for _, e := range chain {
		if e.Seq > int64(f.base) && e.Tenant == "" {
			untenanted = append(untenanted, e.Seq)
		}
	}
	req, _ := http.NewRequest("GET", f.srv.URL+fmt.Sprintf("/v1/audit?after=%d", f.base), nil)
	req.Header.Set("Authorization", "Bearer "+tokA)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var l AuditList
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&l) != nil {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if len(l.Entries) != 0 || l.Next != untenanted[w-1] {
		t.Errorf("first page: %d entries, next %d; want none, next %d (the window's last entry)", len(l.Entries), l.Next, untenanted[w-1])
	}
	got, err := a.Audit(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var gotSeqs []int64
	for _, e := range got {
		if e.Seq > int64(f.base) {
			gotSeqs = append(gotSeqs, e.Seq)
		}
		if e.RunID == "old-b" || e.Tenant != "" && e.Tenant != "a" {
			t.Errorf("a was given entry %d of run %q, tenant %q", e.Seq, e.RunID, e.Tenant)
		}
	}
	if last := chain[len(chain)-1].Seq; len(gotSeqs) != 1 || gotSeqs[0] != last {
		t.Errorf("a's entries after the fixture's: %v, want the log's last, %d", gotSeqs, last)
	}
}

// TestAReadForNoTenantIsForbidden: a read the store refuses for naming no
// tenant is answered 403, not 500 and never with rows.
func TestAReadForNoTenantIsForbidden(t *testing.T) {
	w := httptest.NewRecorder()
	fail(w, fmt.Errorf("list runs: %w", store.ErrNoTenant))
	if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "names no tenant") {
		t.Errorf("%d %s", w.Code, w.Body)
	}
}

// auditBytes is the fixture's store as the API's AuditReader, counting
// the payload bytes each AuditSelect and AuditSelectPage answered.
type auditBytes struct {
	AuditReader
	mu    sync.Mutex
	reads []int
}

func (a *auditBytes) AuditSelect(ctx context.Context, q store.AuditQuery) ([]audit.Entry, error) {
	es, err := a.AuditReader.AuditSelect(ctx, q)
	a.count(es)
	return es, err
}

func (a *auditBytes) AuditSelectPage(ctx context.Context, q store.AuditQuery) ([]audit.Entry, int64, error) {
	es, next, err := a.AuditReader.AuditSelectPage(ctx, q)
	a.count(es)
	return es, next, err
}

func (a *auditBytes) count(es []audit.Entry) {
	n := 0
	for _, e := range es {
		n += len(e.Payload)
	}
	a.mu.Lock()
	a.reads = append(a.reads, n)
	a.mu.Unlock()
}

// TestAuditAllPageReadsBounded: a page of the whole chain (all=1) reads
// no more than the page's bound, however large the asking tenant's own
// entries after the page are. Tenant a's large entries follow b's small
// ones: the page is b's entries, and telling which of them are a's must
// not read a's next entries whole.
func TestAuditAllPageReadsBounded(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	log := audit.NewLog(f.st)
	for i := 0; i < 10; i++ {
		if err := log.AppendFor(ctx, "b", "note", "", i); err != nil {
			t.Fatal(err)
		}
	}
	const big = 6 << 20
	for i := 0; i < 6; i++ {
		if err := log.AppendFor(ctx, "a", "note", "", strings.Repeat("x", big)); err != nil {
			t.Fatal(err)
		}
	}
	ab := &auditBytes{AuditReader: f.st}
	h := New(f.c, Options{Tokens: f.st, Audit: ab})
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+fmt.Sprintf("/v1/audit?all=1&limit=10&after=%d", f.base), nil)
	req.Header.Set("Authorization", "Bearer "+tokA)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var l AuditList
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&l) != nil {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if len(l.Entries) != 10 {
		t.Fatalf("%d entries, want b's 10", len(l.Entries))
	}
	for _, e := range l.Entries {
		if !e.Redacted {
			t.Errorf("entry %d of b not redacted", e.Seq)
		}
	}
	for i, n := range ab.reads {
		if n > MaxAuditPageBytes+big+64 {
			t.Errorf("read %d of the page answered %d bytes, over the page's bound of %d", i, n, MaxAuditPageBytes+big+64)
		}
	}
}

// TestAuditAllPageLegacyAfterPage: telling which of a page of the whole
// chain are the tenant's reads only the page's range. It read the
// tenant's entries from the page on up to the page's length, its runs'
// entries without a tenant among them: on a log from before entries named
// their tenant, entries after the page, whole (and, to find them, every
// entry without a tenant after the page).
func TestAuditAllPageLegacyAfterPage(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	log := audit.NewLog(f.st)
	for i := 0; i < 10; i++ {
		if err := log.AppendFor(ctx, "b", "note", "", i); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := f.st.CreateRun(ctx, &store.Run{ID: "legacy-a", Tenant: "a", Job: "j", State: "done", Data: []byte(`{}`)}, "", store.Change{}); err != nil {
		t.Fatal(err)
	}
	const big = 1 << 20
	for i := 0; i < 3; i++ {
		// Of a's run, without a tenant: as written before entries named
		// their tenant.
		if err := log.Append(ctx, "note", "legacy-a", strings.Repeat("x", big)); err != nil {
			t.Fatal(err)
		}
	}
	ab := &auditBytes{AuditReader: f.st}
	srv := httptest.NewServer(New(f.c, Options{Tokens: f.st, Audit: ab}))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+fmt.Sprintf("/v1/audit?all=1&limit=10&after=%d", f.base), nil)
	req.Header.Set("Authorization", "Bearer "+tokA)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var l AuditList
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&l) != nil || len(l.Entries) != 10 {
		t.Fatalf("status %d, %d entries, want b's 10", resp.StatusCode, len(l.Entries))
	}
	for i, n := range ab.reads {
		if n > 1<<10 {
			t.Errorf("read %d of a page of 10 small entries answered %d bytes: entries after the page", i, n)
		}
	}
}

// verifyCount is the fixture's store as the API's AuditReader, counting
// the verifications of the whole chain that run at once. Each takes a
// while longer than the store's, so that requests sent together overlap.
type verifyCount struct {
	AuditReader
	mu        sync.Mutex
	now, most int
	calls     int
}

func (v *verifyCount) VerifyAudit(ctx context.Context) (audit.Result, error) {
	v.mu.Lock()
	v.now++
	v.calls++
	v.most = max(v.most, v.now)
	v.mu.Unlock()
	defer func() {
		v.mu.Lock()
		v.now--
		v.mu.Unlock()
	}()
	res, err := v.AuditReader.VerifyAudit(ctx)
	time.Sleep(300 * time.Millisecond)
	return res, err
}

// TestAuditVerifyOneAtATime: GET /v1/audit/verify reads the whole chain
// into memory; a tenant that asks for it many times at once (its rate
// limit lets 20 through together) gets one verification shared, not as
// many copies of the log in memory as it sent requests.
func TestAuditVerifyOneAtATime(t *testing.T) {
	f := newFixture(t)
	vc := &verifyCount{AuditReader: f.st}
	h := New(f.c, Options{Tokens: f.st, Audit: vc, RateLimit: DefaultRateLimit})
	// A request of the twelve that comes only after the shared
	// verification ended starts another, rather than find the tenant
	// resting (that rest is TestAuditVerifyRestsPerTenant's).
	h.verifyRestFor = func(time.Duration) time.Duration { return 0 }
	srv := httptest.NewServer(h)
	defer srv.Close()
	var wg sync.WaitGroup
	codes := make([]int, 12)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", srv.URL+"/v1/audit/verify", nil)
			req.Header.Set("Authorization", "Bearer "+tokA)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			var res audit.Result
			if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || !res.OK || res.Entries == 0 {
				t.Errorf("answer %d: %+v (%v)", resp.StatusCode, res, err)
			}
			codes[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("request %d: status %d", i, c)
		}
	}
	if vc.most != 1 {
		t.Errorf("%d verifications of the whole chain at once (of %d), want 1", vc.most, vc.calls)
	}
	// A request after those is verified anew.
	before := vc.calls
	req, _ := http.NewRequest("GET", srv.URL+"/v1/audit/verify", nil)
	req.Header.Set("Authorization", "Bearer "+tokA)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || vc.calls != before+1 {
		t.Errorf("a later request: status %d, %d verifications, want 200 and a new one", resp.StatusCode, vc.calls-before)
	}
}
