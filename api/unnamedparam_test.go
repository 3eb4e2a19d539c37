package api

import (
	"net/http"
	"testing"
)

// TestUnnamedQueryParamNamesQuery: a query parameter without a name is
// refused 400 naming the field "query". Before, the error named the empty
// name, so it carried no field at all (found by FuzzQueryParams:
// GET /v1/queue?=0).
func TestUnnamedQueryParamNamesQuery(t *testing.T) {
	f := newFixture(t)
	for _, path := range []string{"/v1/queue?=0", "/v1/runs?limit=1&=", "/v1/healthz?=x"} {
		status, e := f.raw(t, "GET", path, tokA, "")
		if status != http.StatusBadRequest || e.Code != "invalid" || e.Field != "query" {
			t.Errorf("GET %s: %d %q field %q (%s), want 400 invalid naming query", path, status, e.Code, e.Field, e.Message)
		}
	}
}
