package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"meridian.dev/meridian/run"
	"meridian.dev/meridian/seal"
)

// crossRequest is another tenant's request that names the owner's things
// somewhere other than the path (which the route matrix covers): in query
// parameters, cursors and bodies. want is its status, and field the field
// a refusal names.
type crossRequest struct {
	what, path, body string
	want             int
	field            string
}

// crossRequests gives each route the requests in which another tenant
// names the owner's run, dataset, organisation, key or idempotency key.
// A route that takes no such name anywhere but its path has none, and
// says why: a route added later must be given its own.
func (mx *matrix) crossRequests(idemKey string) map[string][]crossRequest {
	jobWith := func(extra string) string {
		doc := strings.Replace(ownerJob("other-org"), "  organization: other-org\n", "  organization: other-org\n"+extra, 1)
		b, _ := json.Marshal(map[string]any{"documents": []run.Document{{Name: "job.yaml", Content: doc}}})
		return string(b)
	}
	// A job of the owner's organisation, which the other tenant has not
	// registered, and one that reads the owner's dataset.
	_, jobOnly, _ := strings.Cut(ownerJob(ownerOrg), "---\n")
	ownersOrg, _ := json.Marshal(map[string]any{"documents": []run.Document{{Name: "job.yaml", Content: jobOnly}}})
	ownersData := jobWith("  datasets: [" + ownerDataset + "]\n")
	withField := func(body, field string) string {
		return strings.Replace(body, `{"documents"`, `{`+field+`, "documents"`, 1)
	}
	key, _ := seal.NewKey()
	none := func(why string) []crossRequest { return nil }
	return map[string][]crossRequest{
		"GET /v1/healthz":      none("names nothing"),
		"GET /v1/openapi.json": none("public, names nothing"),
		"POST /v1/runs": {
			{what: "a job of the owner's organisation", path: "/v1/runs", body: string(ownersOrg), want: 400, field: "documents"},
			{what: "a job reading the owner's dataset", path: "/v1/runs", body: ownersData, want: 400, field: "documents"},
			// Idempotency keys are each tenant's: the owner's key makes
			// the other tenant a run of its own, not the owner's.
			{what: "the owner's idempotency key", path: "/v1/runs", body: withField(jobWith(""), fmt.Sprintf(`"idempotencyKey": %q`, idemKey)), want: 201},
		},
		"GET /v1/runs": {
			{what: "the owner's run as the page cursor", path: "/v1/runs?limit=10&after=" + mx.runID, want: 400, field: "after"},
			{what: "the owner's run as the cursor, without a page size", path: "/v1/runs?after=" + mx.runID, want: 400, field: "after"},
		},
		"GET /v1/queue":             none("names nothing"),
		"GET /v1/runs/{id}":         none("names the run in its path only"),
		"GET /v1/runs/{id}/events":  none("names the run in its path only; after is a seq of that run"),
		"GET /v1/runs/{id}/logs":    none("names the run in its path only"),
		"POST /v1/runs/{id}/cancel": none("names the run in its path only"),
		"POST /v1/plans": {
			{what: "a job of the owner's organisation", path: "/v1/plans", body: string(ownersOrg), want: 400, field: "documents"},
			{what: "a job reading the owner's dataset", path: "/v1/plans", body: ownersData, want: 400, field: "documents"},
			{what: "the owner's dataset, explained", path: "/v1/plans?top=1", body: withField(ownersData, `"explain": "alpha"`), want: 400, field: "documents"},
		},
		"POST /v1/estimates": {
			{what: "a job of the owner's organisation", path: "/v1/estimates", body: withField(string(ownersOrg), `"accelerator": "nvidia-h100-sxm", "count": 8`), want: 400, field: "documents"},
			{what: "a job reading the owner's dataset", path: "/v1/estimates", body: withField(ownersData, `"accelerator": "nvidia-h100-sxm", "count": 8`), want: 400, field: "documents"},
		},
		"GET /v1/catalog/sites":        none("the catalog is every tenant's"),
		"GET /v1/catalog/sites/{name}": none("the catalog is every tenant's"),
		"GET /v1/catalog/accelerators": none("the catalog is every tenant's"),
		"GET /v1/catalog/countries":    none("the catalog is every tenant's"),
		"POST /v1/resources": {
			// Organisation names are each tenant's own: the other tenant
			// may have one of the same name, which is not the owner's.
			{what: "an organisation of the owner's organisation's name", path: "/v1/resources", body: mustJSON(ApplyRequest{Documents: []run.Document{{Name: "org.yaml", Content: "apiVersion: meridian.dev/v1alpha1\nkind: Organization\nmetadata: {name: " + ownerOrg + "}\nspec: {headquarters: DE}\n"}}}), want: 200},
		},
		"GET /v1/resources": none("names nothing"),
		"GET /v1/datasets":  none("names nothing"),
		"PUT /v1/datasets/{name}/key": {
			// A well-formed key for the owner's dataset: not found, as
			// staging it is (the matrix sends a malformed one).
			{what: "a good key for the owner's dataset", path: "/v1/datasets/" + ownerDataset + "/key", body: mustJSON(KeyRequest{Key: key.String()}), want: 404},
		},
		"POST /v1/datasets/{name}/stage": {
			{what: "the owner's dataset for the owner's organisation", path: "/v1/datasets/" + ownerDataset + "/stage", body: fmt.Sprintf(`{"site": "alpha", "organization": %q}`, ownerOrg), want: 404},
		},
		"POST /v1/datasets/{name}/verify": none("names the dataset in its path only; the site is the catalog's"),
		"GET /v1/ledger": {
			{what: "the owner's dataset", path: "/v1/ledger?dataset=" + ownerDataset, want: 200},
		},
		"GET /v1/audit": {
			{what: "the owner's run", path: "/v1/audit?run=" + mx.runID, want: 404},
			{what: "the owner's run, with the whole chain asked for", path: "/v1/audit?all=1&run=" + mx.runID, want: 404},
		},
		"GET /v1/audit/verify":        none("names nothing"),
		"GET /v1/tenants":             none("admin only"),
		"POST /v1/tenants":            {{what: "a token for the owner's tenant", path: "/v1/tenants", body: `{"tenant": "acme"}`, want: 403}},
		"DELETE /v1/tenants/{tenant}": {{what: "the owner's tenant", path: "/v1/tenants/acme", want: 403}},
		"GET /metrics":                none("admin only"),
		"POST /v1/rules":              none("admin only"),
		"GET /v1/rules":               none("the law is every tenant's"),
		"GET /v1/rules/revisions":     none("the law is every tenant's"),
		"GET /console/":               none("public, names nothing"),
		"GET /v1/rules/diff":          none("the law is every tenant's"),
		"POST /v1/rules/what-if":      none("admin only"),
		"POST /v1/quotas/reload":      none("admin only"),
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// TestRouteMatrixCrossTenant walks every route as another tenant naming
// the owner's things in query parameters, cursors and bodies: each is
// refused, or answered with the caller's own things only, and changes
// nothing of the owner's (its runs, resources, tokens, and the key the
// server holds for its dataset).
func TestRouteMatrixCrossTenant(t *testing.T) {
	mx := newSQLiteMatrix(t)
	ctx := context.Background()
	owner := NewClient(mx.srv.URL, tokOwner)
	const idemKey = "owner-idempotency-key-1"
	idemRun, err := owner.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: ownerJob(ownerOrg)}}, IdempotencyKey: idemKey})
	if err != nil {
		t.Fatal(err)
	}
	secrets := append([]string{idemRun.ID}, mx.secrets...)
	reqs := mx.crossRequests(idemKey)
	for _, rt := range mx.h.Routes() {
		pat := rt.Method + " " + rt.Path
		list, ok := reqs[pat]
		if !ok {
			t.Errorf("route %s has no entry in the cross-tenant table: add its requests that name another tenant's things, or none", pat)
			continue
		}
		delete(reqs, pat)
		for _, rq := range list {
			t.Run(strings.ReplaceAll(pat, "/", "_")+"/"+rq.what, func(t *testing.T) {
				_, beforeOwner := mx.snapshot(t)
				beforeAll, _ := mx.snapshot(t)
				req, _ := http.NewRequest(rt.Method, mx.srv.URL+rq.path, strings.NewReader(rq.body))
				req.Header.Set("Authorization", "Bearer "+tokOther)
				if rq.body != "" {
					req.Header.Set("Content-Type", BodyType)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				var buf bytes.Buffer
				buf.ReadFrom(resp.Body)
				resp.Body.Close()
				body := buf.Bytes()
				if resp.StatusCode != rq.want {
					t.Fatalf("status %d, want %d: %s", resp.StatusCode, rq.want, body)
				}
				mx.validate(t, rt, resp.StatusCode, body)
				if rq.field != "" {
					var e ErrorBody
					if json.Unmarshal(body, &e); e.Error.Field != rq.field {
						t.Errorf("the refusal names field %q, want %q: %s", e.Error.Field, rq.field, body)
					}
				}
				for _, sec := range secrets {
					sent := strings.Contains(rq.path, sec) || strings.Contains(rq.body, sec)
					if !sent && bytes.Contains(body, []byte(sec)) {
						t.Errorf("the answer holds the owner's %q:\n%s", sec, body)
					}
				}
				afterAll, afterOwner := mx.snapshot(t)
				if afterOwner != beforeOwner {
					t.Errorf("the request changed the owner's runs, resources or tokens")
				}
				if resp.StatusCode >= 400 && afterAll != beforeAll {
					t.Errorf("a refused request (%d) changed the server's state", resp.StatusCode)
				}
			})
		}
	}
	for pat := range reqs {
		t.Errorf("the cross-tenant table has an entry for %s, which is not a route", pat)
	}
	// The owner's things still answer the owner: its run, and its staged
	// dataset, verified at the site with the key the server holds for it
	// (one another tenant put in its place would fail every chunk).
	if got, err := owner.Get(ctx, idemRun.ID); err != nil || got.Tenant != "acme" {
		t.Errorf("the owner's run after the other tenant's requests: %+v %v", got, err)
	}
	if rep, err := owner.VerifyDataset(ctx, ownerDataset, "alpha"); err != nil || !rep.Good() || rep.OK == 0 {
		t.Errorf("the owner's dataset after the other tenant's requests: %+v %v", rep, err)
	}
}
