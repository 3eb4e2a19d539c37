package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/examples/trainer/charlm"
	"meridian.dev/meridian/internal/pgtest"
	"meridian.dev/meridian/internal/testplan"
	"meridian.dev/meridian/metrics"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/seal"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// The route matrix: every route × no token, a wrong token, another
// tenant's token, an admin's token, and the owner's. Nothing of the owner's
// leaks to the others, nothing changes on a refusal, and every answer (its
// status and body) is one the OpenAPI document describes.

const (
	tokOwner = "owner-token-000000000000000000000000000000"
	tokOther = "other-token-000000000000000000000000000000"
	tokAdmin = "admin-token-000000000000000000000000000000"
	tokSpare = "spare-token-000000000000000000000000000000"
)

// Names only the owner's data carries: none may appear in another's answer.
const (
	ownerOrg     = "acme-secret-org"
	ownerDataset = "acme-private-ds"
)

type matrix struct {
	srv      *httptest.Server
	h        *Server
	st       store.Store
	runID    string
	dsDoc    string
	secrets  []string
	validate func(t *testing.T, rt Route, status int, body []byte)
	// validateEvent checks one server-sent event's data against what the
	// document says of the route's stream.
	validateEvent func(t *testing.T, rt Route, event string, data []byte)
}

func ownerJob(org string) string {
	return fmt.Sprintf(`apiVersion: meridian.dev/v1alpha1
kind: Organization
metadata: {name: %s}
spec: {headquarters: SG}
---
apiVersion: meridian.dev/v1alpha1
kind: TrainingJob
metadata: {name: tiny}
spec:
  organization: %s
  model: {parameters: 1.0e6}
  method: pretrain
  tokens: 1.0e6
  workload: {command: [/bin/sh, -c, "echo step=1 loss=2 tokens_per_s=3; sleep 60"]}
`, org, org)
}

// newSQLiteMatrix is newMatrix over a SQLite store of its own.
func newSQLiteMatrix(t *testing.T) *matrix {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "m.db"), store.Options{AuditKey: []byte("0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return newMatrix(t, st)
}

func newMatrix(t *testing.T, st store.Store) *matrix {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	var dsDoc string
	rs, err := rules.Open(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A quota file the admin may reload: a quota on an accelerator none of
	// the matrix's runs uses, so that it changes no decision.
	quotaFile := filepath.Join(dir, "quotas.yaml")
	if err := os.WriteFile(quotaFile, []byte("apiVersion: meridian.dev/v1alpha1\nkind: Quota\nmetadata: {name: acme}\nspec:\n  families: [{name: mi300, accelerators: [amd-mi300x], nominal: 8}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := run.New(run.Config{QuotaFile: quotaFile, LawNow: func() run.LawNow {
		cur := rs.Current()
		return run.LawNow{Rev: cur.Rev, Law: planner.PolicyLaw(cur.Engine), Transfer: cur.Engine, Dates: cur.Dates}
	}, Store: st, StateDir: dir, CatalogDir: "testdata/sites", Plan: testplan.Cheapest,
		Backends: func(site *catalog.Site, root string) (backend.Backend, error) {
			return backend.For(site.Spec.Backend, root)
		},
		ServerURL: "http://127.0.0.1:1", AgentKey: []byte("agent key for api tests 01234567"),
		Stager: &transfer.Stager{Law: transfer.BasisLaw{}, Keys: dataset.TenantKeyrings{Root: dir}, Ledger: transfer.AuditLedger{Store: st}}})
	addTokens(t, st, Token{Tenant: "acme", Token: tokOwner}, Token{Tenant: "beta", Token: tokOther}, Token{Tenant: "gamma", Token: tokSpare})
	if _, err := AddToken(ctx, st, "ops", tokAdmin, true, "test admin", "test"); err != nil {
		t.Fatal(err)
	}
	m := metrics.New(metrics.Sources{RunCounts: st.CountRuns, AuditHead: st.AuditHead})
	h := New(c, Options{Tokens: st, Audit: st, Metrics: m, RateLimit: RateLimit{Rate: 1000, Burst: 1000}})
	h.SetRules(&testRules{rs: rs, c: c})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	mx := &matrix{srv: srv, h: h, st: st}
	defer func() { mx.dsDoc = dsDoc }()

	// The owner's data: a sealed dataset in a home store, registered, its
	// key handed over and staged to alpha; an organisation; a run.
	src := filepath.Join(dir, "src")
	if err := charlm.WriteCorpus(src); err != nil {
		t.Fatal(err)
	}
	key, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	sealer, _ := seal.New(key, ownerDataset)
	home := "file://" + filepath.Join(dir, "store") // the state directory's home store, which the server reads
	b, err := dataset.OpenStore(ctx, home)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dataset.Add(ctx, dataset.AddOptions{Name: ownerDataset, Root: src, Store: b, Sealer: sealer}); err != nil {
		t.Fatal(err)
	}
	b.Close()
	dsDoc = fmt.Sprintf("apiVersion: meridian.dev/v1alpha1\nkind: Dataset\nmetadata: {name: %s}\nspec: {origin: SG, classification: public, sizeBytes: 1.0e5, store: %q}\n", ownerDataset, home)
	owner := NewClient(srv.URL, tokOwner)
	if _, err := owner.Apply(ctx, []run.Document{{Name: "ds.yaml", Content: dsDoc}}, false); err != nil {
		t.Fatal(err)
	}
	if err := owner.PutKey(ctx, ownerDataset, key.String()); err != nil {
		t.Fatal(err)
	}
	if _, err := owner.Stage(ctx, ownerDataset, run.StageRequest{Site: "alpha"}); err != nil {
		t.Fatal(err)
	}
	r, err := owner.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: ownerJob(ownerOrg)}}})
	if err != nil {
		t.Fatal(err)
	}
	mx.runID = r.ID
	mx.secrets = []string{r.ID, ownerOrg, ownerDataset, home, key.String(), filepath.Join(dir, "store")}
	mx.validate, mx.validateEvent = openAPIValidator(t, h)
	return mx
}

// openAPIValidator compiles the served document and checks an answer
// against what it says of the route and status, and a stream's event
// against what it says of the route's events.
func openAPIValidator(t *testing.T, h *Server) (func(t *testing.T, rt Route, status int, body []byte), func(t *testing.T, rt Route, event string, data []byte)) {
	t.Helper()
	raw, err := h.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	if doc["openapi"] != OpenAPIVersion {
		t.Fatalf("openapi %v", doc["openapi"])
	}
	parsed, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	const base = "https://meridian.dev/openapi.json"
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(base, parsed); err != nil {
		t.Fatal(err)
	}
	esc := func(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1") }
	cache := map[string]*jsonschema.Schema{}
	check := func(t *testing.T, what, ptr string, body []byte) {
		t.Helper()
		s := cache[ptr]
		if s == nil {
			if s, err = c.Compile(ptr); err != nil {
				t.Fatalf("compile %s: %v", ptr, err)
			}
			cache[ptr] = s
		}
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("%s: body is not JSON: %q", what, body)
		}
		if err := s.Validate(v); err != nil {
			detail := err.Error()
			if ve, ok := err.(*jsonschema.ValidationError); ok {
				b, _ := json.MarshalIndent(ve.BasicOutput(), "", " ")
				detail = string(b)
			}
			t.Errorf("%s: the answer does not match the OpenAPI document: %.3000s\n%.2000s", what, detail, body)
		}
	}
	operation := func(t *testing.T, rt Route) map[string]any {
		t.Helper()
		paths := doc["paths"].(map[string]any)
		op, _ := paths[rt.Path].(map[string]any)[strings.ToLower(rt.Method)].(map[string]any)
		if op == nil {
			t.Fatalf("%s %s is not in the OpenAPI document", rt.Method, rt.Path)
		}
		return op
	}
	answer := func(t *testing.T, rt Route, status int, body []byte) {
		t.Helper()
		op := operation(t, rt)
		resp, _ := op["responses"].(map[string]any)[fmt.Sprint(status)].(map[string]any)
		if resp == nil {
			t.Fatalf("%s %s answered %d, which the document does not list: %s", rt.Method, rt.Path, status, body)
		}
		content, _ := resp["content"].(map[string]any)
		if _, ok := content["application/json"]; !ok {
			return
		}
		ptr := fmt.Sprintf("%s#/paths/%s/%s/responses/%d/content/application~1json/schema", base, esc(rt.Path), strings.ToLower(rt.Method), status)
		check(t, fmt.Sprintf("%s %s %d", rt.Method, rt.Path, status), ptr, body)
	}
	event := func(t *testing.T, rt Route, event string, data []byte) {
		t.Helper()
		op := operation(t, rt)
		resp, _ := op["responses"].(map[string]any)["200"].(map[string]any)
		content, _ := resp["content"].(map[string]any)
		stream, _ := content["text/event-stream"].(map[string]any)
		evs, _ := stream["x-sse-events"].(map[string]any)
		if evs[event] == nil {
			t.Fatalf("%s %s sent event %q, which the document does not list", rt.Method, rt.Path, event)
		}
		ptr := fmt.Sprintf("%s#/paths/%s/%s/responses/200/content/text~1event-stream/x-sse-events/%s", base, esc(rt.Path), strings.ToLower(rt.Method), event)
		check(t, fmt.Sprintf("%s %s event %s", rt.Method, rt.Path, event), ptr, data)
	}
	return answer, event
}

// snapshot is everything a request might change, as one hash, and the
// owner's part of it.
func (mx *matrix) snapshot(t *testing.T) (all, owner string) {
	t.Helper()
	ctx := context.Background()
	var a, o []string
	runs, err := mx.st.ListRuns(ctx, store.ListOptions{AllTenants: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		line := fmt.Sprintf("run %s %s %d %s %x", r.ID, r.Tenant, r.Version, r.State, sha256.Sum256(r.Data))
		a = append(a, line)
		if r.Tenant == "acme" {
			o = append(o, line)
		}
	}
	for _, tenant := range []string{"acme", "beta", "gamma", "ops"} {
		res, err := mx.st.ListResources(ctx, tenant, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			line := fmt.Sprintf("res %s %s %s %d %s", r.Tenant, r.Kind, r.Name, r.Version, r.Hash)
			a = append(a, line)
			if tenant == "acme" {
				o = append(o, line)
			}
		}
	}
	toks, err := mx.st.ListTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range toks {
		line := fmt.Sprintf("tok %s %s %v %v", tk.ID, tk.Tenant, tk.Admin, tk.RevokedAt != nil)
		a = append(a, line)
		if tk.Tenant == "acme" {
			o = append(o, line)
		}
	}
	seq, head, err := mx.st.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a = append(a, fmt.Sprintf("audit %d %s", seq, head))
	revs, err := mx.st.LastRuleRevision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a = append(a, fmt.Sprintf("rules %d", revs))
	sort.Strings(a)
	sort.Strings(o)
	h := func(l []string) string {
		s := sha256.Sum256([]byte(strings.Join(l, "\n")))
		return hex.EncodeToString(s[:])
	}
	return h(a), h(o)
}

type call struct {
	who, token string
}

var callers = []call{{"none", ""}, {"wrong", "wrong-token-00000000000000000000000000000000"}, {"other", tokOther}, {"admin", tokAdmin}, {"owner", tokOwner}}

// request is one route's concrete request; want gives each caller's status.
type request struct {
	path, body string
	want       map[string]int
}

func (mx *matrix) requests() map[string]request {
	job := func(org string) string {
		b, _ := json.Marshal(map[string]any{"documents": []run.Document{{Name: "job.yaml", Content: ownerJob(org)}}})
		return string(b)
	}
	ok := func(s int) map[string]int { return map[string]int{"other": s, "admin": s, "owner": s} }
	owned := func(s, others int) map[string]int {
		return map[string]int{"other": others, "admin": others, "owner": s}
	}
	adminOnly := func(s int) map[string]int { return map[string]int{"other": 403, "admin": s, "owner": 403} }
	runPath := "/v1/runs/" + mx.runID
	ds := "/v1/datasets/" + ownerDataset
	// Another tenant registering the owner's data, document for document.
	steal, _ := json.Marshal(ApplyRequest{Documents: []run.Document{{Name: "ds.yaml", Content: mx.dsDoc}}})
	return map[string]request{
		"GET /v1/healthz":              {path: "/v1/healthz", want: ok(200)},
		"GET /v1/openapi.json":         {path: "/v1/openapi.json", want: ok(200)},
		"POST /v1/runs":                {path: "/v1/runs", body: job("someone-org"), want: ok(201)},
		"GET /v1/runs":                 {path: "/v1/runs", want: ok(200)},
		"GET /v1/queue":                {path: "/v1/queue", want: ok(200)},
		"GET /v1/runs/{id}":            {path: runPath, want: owned(200, 404)},
		"GET /v1/runs/{id}/events":     {path: runPath + "/events", want: owned(200, 404)},
		"GET /v1/runs/{id}/logs":       {path: runPath + "/logs", want: owned(200, 404)},
		"POST /v1/runs/{id}/cancel":    {path: runPath + "/cancel", want: owned(202, 404)},
		"POST /v1/plans":               {path: "/v1/plans", body: job("planner-org"), want: ok(200)},
		"POST /v1/estimates":           {path: "/v1/estimates", body: strings.Replace(job("est-org"), `{"documents"`, `{"accelerator": "nvidia-h100-sxm", "count": 8, "documents"`, 1), want: ok(200)},
		"GET /v1/catalog/sites":        {path: "/v1/catalog/sites", want: ok(200)},
		"GET /v1/catalog/sites/{name}": {path: "/v1/catalog/sites/alpha", want: ok(200)},
		"GET /v1/catalog/accelerators": {path: "/v1/catalog/accelerators", want: ok(200)},
		"GET /v1/catalog/countries":    {path: "/v1/catalog/countries", want: ok(200)},
		// The owner's copy is registered already (200, unchanged); another
		// tenant may not register the owner's data as its own (409).
		"POST /v1/resources":              {path: "/v1/resources", body: string(steal), want: owned(200, 409)},
		"GET /v1/resources":               {path: "/v1/resources", want: ok(200)},
		"GET /v1/datasets":                {path: "/v1/datasets", want: ok(200)},
		"PUT /v1/datasets/{name}/key":     {path: ds + "/key", body: `{"key": "not-a-key"}`, want: owned(400, 404)},
		"POST /v1/datasets/{name}/stage":  {path: ds + "/stage", body: `{"site": "bravo", "dryRun": true}`, want: owned(200, 404)},
		"POST /v1/datasets/{name}/verify": {path: ds + "/verify", body: `{"site": "alpha"}`, want: owned(200, 404)},
		"GET /v1/ledger":                  {path: "/v1/ledger", want: ok(200)},
		"GET /v1/audit":                   {path: "/v1/audit?all=1", want: ok(200)},
		"GET /v1/audit/verify":            {path: "/v1/audit/verify", want: ok(200)},
		"GET /v1/tenants":                 {path: "/v1/tenants", want: adminOnly(200)},
		"POST /v1/tenants":                {path: "/v1/tenants", body: `{"tenant": "delta"}`, want: adminOnly(201)},
		"DELETE /v1/tenants/{tenant}":     {path: "/v1/tenants/gamma", want: map[string]int{"other": 403, "admin": 200, "owner": 403}},
		"GET /metrics":                    {path: "/metrics", want: adminOnly(200)},
		"POST /v1/rules":                  {path: "/v1/rules", body: rulesBody(true), want: adminOnly(200)},
		"GET /v1/rules":                   {path: "/v1/rules?asOf=2025-10-01", want: ok(200)},
		"GET /v1/rules/revisions":         {path: "/v1/rules/revisions", want: ok(200)},
		"GET /console/":                   {path: "/console/", want: ok(200)},
		"GET /v1/rules/diff":              {path: "/v1/rules/diff", want: ok(200)},
		"POST /v1/rules/what-if":          {path: "/v1/rules/what-if", body: rulesBody(false), want: adminOnly(200)},
		"POST /v1/quotas/reload":          {path: "/v1/quotas/reload", want: adminOnly(200)},
	}
}

func (mx *matrix) do(t *testing.T, method, path, token, body string) (int, []byte) {
	t.Helper()
	status, _, b := mx.doH(t, method, path, token, body)
	return status, b
}

// doH is do with the answer's headers.
func (mx *matrix) doH(t *testing.T, method, path, token, body string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, mx.srv.URL+path, strings.NewReader(body))
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
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func runMatrix(t *testing.T, mx *matrix) {
	reqs := mx.requests()
	routes := mx.h.Routes()
	for _, rt := range routes {
		pat := rt.Method + " " + rt.Path
		rq, ok := reqs[pat]
		if !ok {
			t.Errorf("route %s has no request in the matrix: add one", pat)
			continue
		}
		delete(reqs, pat)
		for _, c := range callers {
			t.Run(strings.ReplaceAll(pat, "/", "_")+"/"+c.who, func(t *testing.T) {
				beforeAll, beforeOwner := mx.snapshot(t)
				status, hdr, body := mx.doH(t, rt.Method, rq.path, c.token, rq.body)
				want := rq.want[c.who]
				// Every answer to a token holds what only that token's
				// tenant may see: no cache may keep it (a browser's, a
				// proxy's), and no browser may read it as anything but
				// the type it says (a workload's output as HTML).
				if rt.Access != Public {
					if cc := hdr.Get("Cache-Control"); cc != "no-store" {
						t.Errorf("%s answered %d with Cache-Control %q, want no-store", pat, status, cc)
					}
					if hdr.Get("X-Content-Type-Options") != "nosniff" {
						t.Errorf("%s answered %d without X-Content-Type-Options: nosniff", pat, status)
					}
				}
				if c.who == "none" || c.who == "wrong" {
					want = http.StatusUnauthorized
					if rt.Access == Public {
						want = http.StatusOK
					}
				}
				if status != want {
					t.Fatalf("status %d, want %d: %s", status, want, body)
				}
				mx.validate(t, rt, status, body)
				// An admin route that covers every tenant (what-if) shows the
				// owner's runs to the admin, and to nobody else.
				if c.who != "owner" && !(rt.CrossTenant && c.who == "admin") {
					for _, sec := range mx.secrets {
						// What the caller sent may come back (a name it
						// asked about); nothing else of the owner's may.
						sent := strings.Contains(rq.path, sec) || strings.Contains(rq.body, sec)
						if !sent && bytes.Contains(body, []byte(sec)) {
							t.Errorf("the answer to %s holds the owner's %q:\n%s", c.who, sec, body)
						}
					}
				}
				afterAll, afterOwner := mx.snapshot(t)
				if status >= 400 && afterAll != beforeAll {
					t.Errorf("a refused request (%d) changed the server's state", status)
				}
				if c.who != "owner" && afterOwner != beforeOwner {
					t.Errorf("%s's request changed the owner's runs, resources or tokens", c.who)
				}
			})
		}
	}
	for pat := range reqs {
		t.Errorf("the matrix has a request for %s, which is not a route", pat)
	}
	runStreamMatrix(t, mx)
	runInputMatrix(t, mx)
}

// publicRoutes are the only routes that take no token: a route added
// without one is caught here, not served to anyone.
var publicRoutes = map[string]bool{"GET /v1/openapi.json": true, "GET /console/": true}

// runInputMatrix walks every route with hostile input, as the owner (the
// admin on an admin route) and as another tenant: a body over the route's
// bound is 413 naming the body and the bound; an unknown query parameter
// is 400 naming it; a path value that is no name (an id with a space, a
// NUL, a slash, an upper case letter, 300 bytes) is 400 naming
// the path's parameter, for the owner and the other tenant alike (a name's
// form says nothing of whose it is). None of them changes anything.
func runInputMatrix(t *testing.T, mx *matrix) {
	routes := mx.h.Routes()
	if len(routes) < 30 {
		t.Fatalf("%d routes: the walk misses some", len(routes))
	}
	real := strings.NewReplacer("{id}", mx.runID, "{name}", ownerDataset, "{tenant}", "gamma")
	wildcard := regexp.MustCompile(`\{([a-z]+)\}`)
	bad := []string{"bad%20id", "%00", "a%2Fb", "UPPER", strings.Repeat("x", 300)}
	type hostile struct {
		name, path, body string
		chunked          bool
		status           int
		field, says      string
	}
	for _, rt := range routes {
		pat := rt.Method + " " + rt.Path
		if (rt.Access == Public) != publicRoutes[pat] {
			t.Errorf("%s is %s: only %v take no token", pat, rt.Access, publicRoutes)
		}
		limit := rt.MaxBody
		if limit == 0 {
			limit = MaxBodyBytes
		}
		over := `{"x": "` + strings.Repeat("a", int(limit)) + `"}`
		lim := strconv.FormatInt(limit, 10)
		cases := []hostile{
			{name: "body over the bound", path: real.Replace(rt.Path), body: over, status: 413, field: "body", says: lim},
			{name: "chunked body over the bound", path: real.Replace(rt.Path), body: over, chunked: true, status: 413, field: "body", says: lim},
			{name: "unknown query parameter", path: real.Replace(rt.Path) + "?zz-unknown=1", status: 400, field: "zz-unknown", says: "zz-unknown"},
		}
		for _, m := range wildcard.FindAllStringSubmatch(rt.Path, -1) {
			for _, b := range bad {
				p := strings.Replace(rt.Path, m[0], b, 1)
				cases = append(cases, hostile{name: "malformed {" + m[1] + "} " + b[:min(len(b), 10)], path: real.Replace(p), status: 400, field: m[1], says: m[1]})
			}
		}
		for _, hc := range cases {
			for _, c := range []call{{"owner", tokOwner}, {"other", tokOther}} {
				if rt.Access == Admin {
					c = call{"admin", tokAdmin}
				}
				t.Run("input "+strings.ReplaceAll(pat, "/", "_")+"/"+hc.name+"/"+c.who, func(t *testing.T) {
					beforeAll, _ := mx.snapshot(t)
					var body io.Reader = strings.NewReader(hc.body)
					if hc.chunked {
						body = io.MultiReader(body) // no length known: sent chunked
					}
					req, _ := http.NewRequest(rt.Method, mx.srv.URL+hc.path, body)
					if hc.body == "" {
						req.Body, req.ContentLength = http.NoBody, 0
					} else {
						req.Header.Set("Content-Type", BodyType)
					}
					req.Header.Set("Authorization", "Bearer "+c.token)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					defer resp.Body.Close()
					raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
					var e ErrorBody
					json.Unmarshal(raw, &e)
					if resp.StatusCode != hc.status || e.Error.Field != hc.field || !strings.Contains(e.Error.Message, hc.says) {
						t.Fatalf("%s %s: %d field %q: %.300s; want %d naming %q and %q", rt.Method, hc.path[:min(len(hc.path), 80)], resp.StatusCode, e.Error.Field, raw, hc.status, hc.field, hc.says)
					}
					if len(raw) > 2048 {
						t.Errorf("a refusal of %d bytes: it echoes what it refuses", len(raw))
					}
					mx.validate(t, rt, resp.StatusCode, raw)
					if afterAll, _ := mx.snapshot(t); afterAll != beforeAll {
						t.Errorf("a refused request (%d) changed the server's state", resp.StatusCode)
					}
				})
				if rt.Access == Admin {
					break
				}
			}
		}
	}
}

// runStreamMatrix asks each Follow route for its stream (follow=1) as each
// caller: the owner gets the stream (an event stream: events the document
// describes, up to the run's state); everyone else gets the refusal the
// plain route gives, with nothing of the owner's in it, and no stream.
func runStreamMatrix(t *testing.T, mx *matrix) {
	paths := map[string]string{
		"GET /v1/runs":             "/v1/runs?follow=1",
		"GET /v1/runs/{id}/events": "/v1/runs/" + mx.runID + "/events?follow=1",
		"GET /v1/runs/{id}/logs":   "/v1/runs/" + mx.runID + "/logs?follow=1",
	}
	for _, rt := range mx.h.Routes() {
		if !rt.Follow {
			continue
		}
		pat := rt.Method + " " + rt.Path
		path, ok := paths[pat]
		if !ok {
			t.Errorf("Follow route %s has no stream request in the matrix: add one", pat)
			continue
		}
		for _, c := range callers {
			t.Run("stream "+strings.ReplaceAll(pat, "/", "_")+"/"+c.who, func(t *testing.T) {
				beforeAll, _ := mx.snapshot(t)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				req, _ := http.NewRequestWithContext(ctx, rt.Method, mx.srv.URL+path, nil)
				if c.token != "" {
					req.Header.Set("Authorization", "Bearer "+c.token)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				// The runs stream is every tenant's own list: only a
				// caller without a valid token is refused.
				list := rt.Path == "/v1/runs"
				want := map[string]int{"none": 401, "wrong": 401, "other": 404, "admin": 404, "owner": 200}[c.who]
				if list && want == 404 {
					want = 200
				}
				if resp.StatusCode != want {
					b, _ := io.ReadAll(resp.Body)
					t.Fatalf("status %d, want %d: %s", resp.StatusCode, want, b)
				}
				if want != 200 {
					body, _ := io.ReadAll(resp.Body)
					if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
						t.Errorf("a refusal as %s", ct)
					}
					mx.validate(t, rt, resp.StatusCode, body)
					for _, sec := range mx.secrets {
						if !strings.Contains(path, sec) && bytes.Contains(body, []byte(sec)) {
							t.Errorf("the answer to %s holds the owner's %q:\n%s", c.who, sec, body)
						}
					}
					if afterAll, _ := mx.snapshot(t); afterAll != beforeAll {
						t.Errorf("a refused stream changed the server's state")
					}
					return
				}
				if cc, ns := resp.Header.Get("Cache-Control"), resp.Header.Get("X-Content-Type-Options"); cc != "no-store" || ns != "nosniff" {
					t.Errorf("the stream's Cache-Control is %q and X-Content-Type-Options %q, want no-store and nosniff", cc, ns)
				}
				if len(rt.StreamEvents) == 0 {
					// A plain stream (a followed log): its type is the route's.
					if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, rt.ResponseType) {
						t.Errorf("stream of type %q, the route says %q", ct, rt.ResponseType)
					}
					return
				}
				rd := NewSSEReader(resp.Body)
				for {
					ev, err := rd.Next()
					if err != nil {
						t.Fatalf("the stream ended before the run's state: %v", err)
					}
					if ev.Event == "" {
						continue // retry only
					}
					mx.validateEvent(t, rt, ev.Event, []byte(ev.Data))
					if list {
						if ev.Event != "runs" {
							t.Fatalf("the runs stream began with %q, not the list", ev.Event)
						}
						if mine := strings.Contains(ev.Data, mx.runID); mine != (c.who == "owner") {
							t.Errorf("%s's list holds the owner's run: %v: %s", c.who, mine, ev.Data)
						}
						for _, sec := range mx.secrets {
							if c.who != "owner" && strings.Contains(ev.Data, sec) {
								t.Errorf("%s's list holds the owner's %q", c.who, sec)
							}
						}
						return
					}
					if ev.Event == "run" {
						if !strings.Contains(ev.Data, mx.runID) {
							t.Errorf("run event of another run: %s", ev.Data)
						}
						return
					}
				}
			})
		}
	}
}

func TestRouteMatrix(t *testing.T) {
	runMatrix(t, newSQLiteMatrix(t))
}

func TestRouteMatrixPostgres(t *testing.T) {
	url := pgtest.NewDatabase(t)
	st, err := store.OpenPostgres(context.Background(), url, store.Options{AuditKey: []byte("0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	runMatrix(t, newMatrix(t, st))
}

// TestOpenAPIDocument checks the document itself: every route is in it
// once, with its access and security, and nothing else is.
func TestOpenAPIDocument(t *testing.T) {
	f := newFixture(t)
	status, body := (&matrix{srv: f.srv}).do(t, "GET", "/v1/openapi.json", "", "")
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Access   string                `json:"x-access"`
			Security []map[string][]string `json:"security"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	h := New(f.c, Options{Tokens: f.st, Audit: f.st})
	seen := 0
	for _, rt := range h.Routes() {
		op, ok := doc.Paths[rt.Path][strings.ToLower(rt.Method)]
		if !ok {
			t.Errorf("%s %s missing from the document", rt.Method, rt.Path)
			continue
		}
		seen++
		if op.Access != rt.Access.String() || (rt.Access != Public) != (len(op.Security) == 1) {
			t.Errorf("%s %s: access %q security %v", rt.Method, rt.Path, op.Access, op.Security)
		}
	}
	n := 0
	for _, ops := range doc.Paths {
		n += len(ops)
	}
	if n != seen {
		t.Errorf("the document has %d operations, the server %d routes", n, seen)
	}
	if _, err := os.Stat("testdata"); err != nil {
		t.Fatal(err)
	}
}

// TestRateLimit: a tenant over its bucket gets 429 with Retry-After and its
// neighbour does not.
func TestRateLimit(t *testing.T) {
	f := newFixture(t)
	h := New(f.c, Options{Tokens: f.st, Audit: f.st, RateLimit: RateLimit{Rate: 1, Burst: 3}})
	srv := httptest.NewServer(h)
	defer srv.Close()
	mx := &matrix{srv: srv}
	codes := []int{}
	for i := 0; i < 5; i++ {
		s, _ := mx.do(t, "GET", "/v1/runs", tokA, "")
		codes = append(codes, s)
	}
	if fmt.Sprint(codes) != "[200 200 200 429 429]" {
		t.Errorf("tenant a: %v", codes)
	}
	if s, _ := mx.do(t, "GET", "/v1/runs", tokB, ""); s != 200 {
		t.Errorf("tenant b throttled by a's requests: %d", s)
	}
	// A submission costs 5: more than the bucket holds.
	s, body := mx.do(t, "POST", "/v1/runs", tokB, `{"documents": []}`)
	if s != 429 || !strings.Contains(string(body), "rate limit") {
		t.Errorf("costly request: %d %s", s, body)
	}
	time.Sleep(1100 * time.Millisecond)
	if s, _ := mx.do(t, "GET", "/v1/runs", tokA, ""); s != 200 {
		t.Errorf("after a second: %d", s)
	}
}

// TestDeadlines: a route's deadline ends a request that runs past it, and a
// stream outlives the server's write timeout.
func TestDeadlines(t *testing.T) {
	f := newFixture(t)
	// A stream's writes may take 300 ms each, as long as the server's
	// write timeout: the stream lasts 800 ms.
	h := New(f.c, Options{Tokens: f.st, Audit: f.st, Streams: Streams{WriteWait: 300 * time.Millisecond}})
	h.Add(Route{Method: "GET", Path: "/v1/test/slow", Timeout: 100 * time.Millisecond, Handler: func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			fail(w, r.Context().Err())
		case <-time.After(5 * time.Second):
			w.Write([]byte("late"))
		}
	}})
	h.Add(Route{Method: "GET", Path: "/v1/test/stream", Streaming: true, Handler: func(w http.ResponseWriter, r *http.Request) {
		sw := h.streamWriter(w)
		for i := 0; i < 8; i++ {
			sw.Write([]byte("x"))
			time.Sleep(100 * time.Millisecond)
		}
	}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lim := DefaultLimits
	lim.Write = 300 * time.Millisecond
	hs, lln := NewHTTPServer(h, ln, lim)
	go hs.Serve(lln)
	defer hs.Close()
	mx := &matrix{srv: &httptest.Server{URL: "http://" + ln.Addr().String()}}
	start := time.Now()
	s, body := mx.do(t, "GET", "/v1/test/slow", tokA, "")
	if s != http.StatusServiceUnavailable || !strings.Contains(string(body), "deadline") || time.Since(start) > 3*time.Second {
		t.Errorf("slow route: %d %s after %s", s, body, time.Since(start))
	}
	s, body = mx.do(t, "GET", "/v1/test/stream", tokA, "")
	if s != 200 || string(body) != "xxxxxxxx" {
		t.Errorf("stream cut at the write timeout: %d %q", s, body)
	}
}

// houseRule is a small rule pack an admin applies in the matrix; each
// apply must change the rules, so the rule's message counts the calls.
var houseRules atomic.Int64

func rulesBody(apply bool) string {
	n := houseRules.Add(1)
	pack := fmt.Sprintf(`apiVersion: meridian.dev/v1alpha1
kind: RulePack
metadata: {name: matrix-house-rules}
rules:
  - id: matrix-no-bravo
    title: Not at bravo
    jurisdiction: ORG
    kind: org-policy
    effect: deny
    effectiveFrom: 2024-01-01
    enforcement: in-force
    confidence: confirmed
    sources: ["matrix test house rule %d"]
    message: not at {site.name}
    condition: "site.name == 'bravo'"
`, n)
	req := map[string]any{"files": []RuleFile{{Name: "house.yaml", Content: pack}}}
	if apply {
		req["reason"] = "route matrix"
	}
	b, _ := json.Marshal(req)
	return string(b)
}

// testRules serves the rules routes from a real rules.State, as `serve`
// does (cmd/meridian/server_rules.go), over the matrix's store.
type testRules struct {
	rs *rules.State
	c  *run.Controller
}

func (r *testRules) Apply(ctx context.Context, req RulesApplyRequest, by string) (*RulesApplyResult, error) {
	ch := rules.Change{Remove: req.Remove}
	for _, f := range req.Files {
		ch.Files = append(ch.Files, policy.File{Name: f.Name, Data: []byte(f.Content)})
	}
	cur, d, err := r.rs.Apply(ctx, ch, by, req.Reason, time.Now())
	if err != nil {
		return nil, err
	}
	return &RulesApplyResult{RuleRevision: RuleRevision{Revision: cur.Rev, SHA256: cur.Hash, By: by, Reason: req.Reason, Time: time.Now().UTC(), Files: []string{"house.yaml"}}, Diff: d}, nil
}

func (r *testRules) Law() (*policy.Engine, error) {
	if err := r.rs.Behind(); err != nil {
		return nil, err
	}
	return r.rs.Current().Engine, nil
}

func (r *testRules) History(ctx context.Context, after int64, limit int) ([]RuleRevision, error) {
	h, err := r.rs.History(ctx, after, limit)
	if err != nil {
		return nil, err
	}
	var out []RuleRevision
	for _, x := range h {
		out = append(out, RuleRevision{Revision: x.Rev, SHA256: x.Hash, By: x.Who, Reason: x.Reason, Time: x.CreatedAt, Files: []string{}})
	}
	return out, nil
}

func (r *testRules) Diff(ctx context.Context, from, to int64) (*rules.Diff, error) {
	if to < 0 {
		to = r.rs.Current().Rev
	}
	from = max(from, 0)
	a, err := r.rs.WrittenAt(ctx, from)
	if err != nil {
		return nil, err
	}
	b, err := r.rs.WrittenAt(ctx, to)
	if err != nil {
		return nil, err
	}
	return rules.Compare(a, b), nil
}

func (r *testRules) WhatIf(ctx context.Context, req WhatIfRequest) (any, error) {
	ch := rules.Change{Remove: req.Remove}
	for _, f := range req.Files {
		ch.Files = append(ch.Files, policy.File{Name: f.Name, Data: []byte(f.Content)})
	}
	_, eng, err := r.rs.Proposed(ch)
	if err != nil {
		return nil, err
	}
	law := planner.PolicyLaw(eng)
	proposed := run.LawNow{Rev: r.rs.Current().Rev + 1, Law: law, Transfer: eng, Dates: eng.Dates()}
	return r.c.WhatIf(ctx, proposed, testplan.Cheapest, catalog.MustDate("2026-01-01"))
}
