package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestUnknownQueryParamRefused walks every route: each parameter the route
// documents (Route.Query, the table the check reads) is taken, and one it
// does not take is answered 400 naming it and listing those it takes.
// Before, GET /v1/audit?rn=ID (a typo of run) answered the tenant's whole
// log as if it were the run's, and every route took any parameter without
// a word.
func TestUnknownQueryParamRefused(t *testing.T) {
	mx := newSQLiteMatrix(t)
	// Path values that name nothing: no call of the walk changes the
	// owner's data (a cancel, a revocation).
	fill := strings.NewReplacer("{id}", "r-none", "{name}", "none", "{tenant}", "nobody")
	call := func(rt Route, query string) (int, Error) {
		t.Helper()
		u := mx.srv.URL + fill.Replace(rt.Path) + "?" + query
		req, _ := http.NewRequest(rt.Method, u, strings.NewReader("{}"))
		req.Header.Set("Content-Type", BodyType)
		tok := tokOwner
		if rt.Access == Admin {
			tok = tokAdmin
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := mx.srv.Client().Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", rt.Method, u, err)
		}
		defer resp.Body.Close()
		var e ErrorBody
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			json.NewDecoder(resp.Body).Decode(&e)
		}
		return resp.StatusCode, e.Error
	}
	routes := mx.h.Routes()
	if len(routes) < 25 {
		t.Fatalf("%d routes: the walk misses some", len(routes))
	}
	for _, rt := range routes {
		// An empty value is what every route reads as the parameter's
		// absence: a 400 naming the parameter can only be the check's.
		for _, p := range rt.Query {
			if code, e := call(rt, url.QueryEscape(p.Name)+"="); code == http.StatusBadRequest && e.Field == p.Name {
				t.Errorf("%s %s?%s=: refused (%s), though the route documents it", rt.Method, rt.Path, p.Name, e.Message)
			}
		}
		for _, q := range []string{"rn=1", "limit=1&rn=1"} {
			if q != "rn=1" && !documents(rt, "limit") {
				continue
			}
			code, e := call(rt, q)
			if code != http.StatusBadRequest || e.Field != "rn" || e.Code != "invalid" {
				t.Errorf("%s %s?%s: %d %q %q (%s), want 400 naming rn", rt.Method, rt.Path, q, code, e.Code, e.Field, e.Message)
				continue
			}
			for _, p := range rt.Query {
				if !strings.Contains(e.Message, p.Name) {
					t.Errorf("%s %s?%s: %q does not list %s, which the route takes", rt.Method, rt.Path, q, e.Message, p.Name)
				}
			}
		}
	}
	// Every parameter the CLI's client (client.go) and the console
	// (console/src) send is one its route takes.
	sent := map[string][]string{
		"GET /v1/runs":                {"limit", "after", "follow", "pages"},
		"GET /v1/queue":               {"limit", "after", "cursor"},
		"GET /v1/runs/{id}/events":    {"after", "follow"},
		"GET /v1/runs/{id}/logs":      {"offset", "limit", "follow"},
		"GET /v1/audit":               {"run", "all", "after", "limit"},
		"POST /v1/plans":              {"top", "brief"},
		"GET /v1/ledger":              {"dataset", "after", "limit"},
		"DELETE /v1/tenants/{tenant}": {"token"},
		"GET /v1/rules":               {"asOf"},
		"GET /v1/rules/revisions":     {"limit", "cursor"},
		"GET /v1/rules/diff":          {"from", "to"},
	}
	for pat, names := range sent {
		var rt *Route
		for i := range routes {
			if routes[i].Method+" "+routes[i].Path == pat {
				rt = &routes[i]
			}
		}
		if rt == nil {
			t.Errorf("%s: no such route", pat)
			continue
		}
		for _, n := range names {
			if !documents(*rt, n) {
				t.Errorf("%s: the client or the console sends %s, which the route does not take", pat, n)
			}
		}
	}
}

// documents reports whether rt's table names query parameter name.
func documents(rt Route, name string) bool {
	for _, p := range rt.Query {
		if p.Name == name {
			return true
		}
	}
	return false
}
