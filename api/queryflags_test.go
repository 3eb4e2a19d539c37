package api

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// TestQueryFlagsNamed: a switch of the query (follow, brief, all) that is
// neither 1 nor 0 was taken as 0 without a word: follow=true answered a
// page instead of a stream, brief=yes a whole plan, and all=true the
// tenant's own entries of the audit log where the whole chain was asked,
// which a client checking the chain took as the whole. Such a value is
// now answered 400 naming the parameter; 1, 0 and none keep their meaning.
// A run= of the audit log that names no run of the tenant's is answered
// naming run.
func TestQueryFlagsNamed(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		method, path, body, field string
	}{
		{"GET", "/v1/runs?follow=true", "", "follow"},
		{"GET", "/v1/runs/run-x/events?follow=yes", "", "follow"},
		{"GET", "/v1/runs/run-x/logs?follow=on", "", "follow"},
		{"POST", "/v1/plans?brief=yes", "{}", "brief"},
		{"GET", "/v1/audit?all=true", "", "all"},
	} {
		if code, e := f.raw(t, c.method, c.path, tokA, c.body); code != http.StatusBadRequest || e.Field != c.field {
			t.Errorf("%s %s: %d %+v; want 400 naming %s", c.method, c.path, code, e, c.field)
		}
	}
	for _, path := range []string{"/v1/runs?follow=0", "/v1/audit?all=0", "/v1/audit?all=1", "/v1/audit"} {
		if code, e := f.raw(t, "GET", path, tokA, ""); code != http.StatusOK {
			t.Errorf("GET %s: %d %+v; want 200", path, code, e)
		}
	}
	if code, e := f.raw(t, "GET", "/v1/audit?run=run-nobody", tokA, ""); code != http.StatusNotFound || e.Field != "run" {
		t.Errorf("GET /v1/audit?run= of no run of the tenant's: %d %+v; want 404 naming run", code, e)
	}
}

// TestRevokeTokenIDNamed: DELETE /v1/tenants/{tenant}?token= passed any
// text to the store as a token id: bytes that are not UTF-8, which
// PostgreSQL refuses as text, were answered as the server's fault (500),
// and on SQLite as a token that is not there. A token= that is no token
// id is now answered 400 naming token, and revokes nothing.
func TestRevokeTokenIDNamed(t *testing.T) {
	f := newFixture(t)
	const tokOps = "ops-admin-token-0000000000000000000000000"
	if _, err := AddToken(context.Background(), f.st, "ops", tokOps, true, "test admin", "test"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"%ff", "abc%00", "ABC", strings.Repeat("a", 65), "a+b"} {
		if code, e := f.raw(t, "DELETE", "/v1/tenants/b?token="+id, tokOps, ""); code != http.StatusBadRequest || e.Field != "token" {
			t.Errorf("token=%.20s: %d %+v; want 400 naming token", id, code, e)
		}
	}
	if code, _ := f.raw(t, "GET", "/v1/runs", tokB, ""); code != http.StatusOK {
		t.Errorf("tenant b's token after refused revocations: %d, want 200", code)
	}
}
