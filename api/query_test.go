package api

import (
	"net/http"
	"strings"
	"testing"
)

// TestQueryMisreadRefused: a query the routes would read otherwise than
// it was sent is answered 400, naming what is wrong. Before, Go's query
// parsing left out, without a word, a parameter holding ';' (GET
// /v1/audit?run=ID;x answered the tenant's whole log, not the run's) and
// every parameter of a query of more than 10,000 (limit, follow and the
// filters alike); and a parameter given twice was read as its first value
// where a proxy in front may read its last.
func TestQueryMisreadRefused(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		path  string
		code  int
		field string
	}{
		{"/v1/runs?limit=1", http.StatusOK, ""},
		{"/v1/audit?run=r1;x", http.StatusBadRequest, "query"},
		{"/v1/runs?limit=1" + strings.Repeat("&", 10001), http.StatusBadRequest, "query"},
		{"/v1/runs?limit=1" + strings.Repeat("&x=1", MaxQueryParams), http.StatusBadRequest, "query"},
		{"/v1/runs?limit=1&limit=5000", http.StatusBadRequest, "limit"},
		{"/v1/audit?all=0&all=1", http.StatusBadRequest, "all"},
		{"/v1/runs?limit=1&after=%zz", http.StatusBadRequest, "query"},
	}
	for _, c := range cases {
		code, e := f.raw(t, "GET", c.path, tokA, "")
		if code != c.code || e.Field != c.field {
			t.Errorf("GET %.60s: %d %q (%s), want %d naming %q", c.path, code, e.Field, e.Message, c.code, c.field)
		}
	}
}
