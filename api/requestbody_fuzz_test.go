package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/internal/testplan"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// bodyRoutes are the routes that read a JSON body other than a submission
// (FuzzSubmitBody has that one): a tenant's plans, estimates,
// registrations, dataset keys, staging and checks, and an admin's new
// tenants. The rules routes are left out: their service is the server's
// (cmd/meridian), which this package's tests only stand in for.
var bodyRoutes = []struct {
	method, path string
	admin        bool
	seed         string
}{
	{"POST", "/v1/plans", false, `{"documents":[{"name":"j.yaml","content":` + mustQuote(jobYAML) + `}],"asOf":"2026-01-01","explain":"alpha"}`},
	{"POST", "/v1/estimates", false, `{"documents":[{"name":"j.yaml","content":` + mustQuote(jobYAML) + `}],"accelerator":"nvidia-h100-sxm","count":8,"pricePerHour":2.5}`},
	{"POST", "/v1/resources", false, `{"documents":[{"name":"o.yaml","content":"apiVersion: meridian.dev/v1alpha1\nkind: Organization\nmetadata: {name: lab}\nspec: {headquarters: SG}\n"}],"update":true}`},
	{"PUT", "/v1/datasets/corpus/key", false, `{"key":"AGE-SECRET-KEY-1XXXXXXXX"}`},
	{"POST", "/v1/datasets/corpus/stage", false, `{"site":"alpha","organization":"lab","dryRun":true,"asOf":"2026-01-01"}`},
	{"POST", "/v1/datasets/corpus/verify", false, `{"site":"alpha"}`},
	{"POST", "/v1/tenants", true, `{"tenant":"new","admin":false,"note":"n"}`},
}

func mustQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// FuzzRequestBodies sends arbitrary bodies to every route that reads one
// (but a submission's): the server answers each with a success or a 4xx
// whose body is a JSON error, never a 5xx, a panic or a request that
// hangs (the test's timeout catches one). Its rate limits are off, so a
// 429 is a failure too.
func FuzzRequestBodies(f *testing.F) {
	ctx := context.Background()
	dir := f.TempDir()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "m.db"), store.Options{AuditKey: []byte("0123456789abcdef")})
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	rs, err := rules.Open(ctx, st, nil)
	if err != nil {
		f.Fatal(err)
	}
	c := run.New(run.Config{LawNow: func() run.LawNow {
		cur := rs.Current()
		return run.LawNow{Rev: cur.Rev, Law: planner.PolicyLaw(cur.Engine), Transfer: cur.Engine, Dates: cur.Dates}
	}, Store: st, StateDir: dir, CatalogDir: "testdata/sites", Plan: testplan.Cheapest,
		Backends: func(site *catalog.Site, root string) (backend.Backend, error) {
			return backend.For(site.Spec.Backend, root)
		},
		Stager: &transfer.Stager{Law: transfer.BasisLaw{}, Keys: dataset.TenantKeyrings{Root: dir}, Ledger: transfer.AuditLedger{Store: st}}})
	addTokens(f, st, Token{Tenant: "a", Token: tokA})
	if _, err := AddToken(ctx, st, "ops", tokAdmin, true, "test admin", "test"); err != nil {
		f.Fatal(err)
	}
	// No audited rate limit: with the default, the routes that take
	// from it (a dataset's key, a new tenant) answer 429 to all but the
	// first 120 inputs, which tests nothing of their bodies.
	h := New(c, Options{Tokens: st, Audit: st, AuditedRateLimit: &RateLimit{}})
	for i, r := range bodyRoutes {
		f.Add(uint8(i), []byte(r.seed))
		f.Add(uint8(i), []byte(`{"xxx":1}`))
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		r := bodyRoutes[int(which)%len(bodyRoutes)]
		tok := tokA
		if r.admin {
			tok = tokAdmin
		}
		req := httptest.NewRequest(r.method, r.path, strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", BodyType)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 || rec.Code < 200 || rec.Code == http.StatusTooManyRequests {
			t.Fatalf("%s %s: status %d for %q: %s", r.method, r.path, rec.Code, body, rec.Body.String())
		}
		if rec.Code >= 400 {
			var e ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
				t.Fatalf("%s %s: status %d with a body that is no JSON error: %q", r.method, r.path, rec.Code, rec.Body.String())
			}
		}
		if rec.Code == http.StatusOK || rec.Code == http.StatusCreated {
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("%s %s: answer is not JSON: %q", r.method, r.path, rec.Body.String())
			}
		}
	})
}
